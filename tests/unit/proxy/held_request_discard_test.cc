// HeldRequestDiscard: which of the client's messages belong to a held
// request that is being dropped, and where the next request starts.

#include "proxy/held_request_discard.h"

#include "gtest/gtest.h"

namespace pgvalve::proxy {
namespace {

using protocol::FrontendTag;
using protocol::MessageAction;

TEST(HeldRequestDiscardTest, ASimpleQueryEndsWithItself) {
  HeldRequestDiscard discard(FrontendTag::kQuery);
  EXPECT_FALSE(discard.Complete(true));
  EXPECT_EQ(discard.OnMessageStart(FrontendTag::kQuery), MessageAction::kStream);
  // Its body may still be arriving.
  EXPECT_FALSE(discard.Complete(false));
  EXPECT_TRUE(discard.Complete(true));
  // The next request is kept.
  EXPECT_EQ(discard.OnMessageStart(FrontendTag::kQuery), MessageAction::kHold);
}

TEST(HeldRequestDiscardTest, AnExtendedBatchEndsWithItsSync) {
  HeldRequestDiscard discard(FrontendTag::kParse);
  for (FrontendTag tag : {FrontendTag::kParse, FrontendTag::kBind, FrontendTag::kDescribe, FrontendTag::kExecute}) {
    EXPECT_EQ(discard.OnMessageStart(tag), MessageAction::kStream);
    EXPECT_FALSE(discard.Complete(true));
  }
  EXPECT_EQ(discard.OnMessageStart(FrontendTag::kSync), MessageAction::kStream);
  EXPECT_TRUE(discard.Complete(true));
  EXPECT_EQ(discard.OnMessageStart(FrontendTag::kParse), MessageAction::kHold);
}

TEST(HeldRequestDiscardTest, ALoneSyncAndAFunctionCallEndWithThemselves) {
  for (FrontendTag first : {FrontendTag::kSync, FrontendTag::kFunctionCall}) {
    HeldRequestDiscard discard(first);
    EXPECT_EQ(discard.OnMessageStart(first), MessageAction::kStream);
    EXPECT_TRUE(discard.Complete(true));
    EXPECT_EQ(discard.OnMessageStart(FrontendTag::kQuery), MessageAction::kHold);
  }
}

}  // namespace
}  // namespace pgvalve::proxy
