// SharedState: the fleet's admin state as etcd holds it, applied to the
// local gates as a watch delivers it, and the transaction that publishes a
// local change. No etcd: its answers are written here.

#include "fleet/shared_state.h"

#include <gtest/gtest.h>

#include "fleet/shared_state_codec.h"

namespace pgvalve::fleet {
namespace {

constexpr std::string_view kPrefix = "/fleet";

WatchEvent Put(std::string key, std::string value, int64_t revision) {
  return {.type = WatchEvent::Type::kPut, .kv = {.key = std::move(key), .value = std::move(value),
                                                  .mod_revision = revision}};
}

WatchEvent Delete(std::string key, int64_t revision) {
  return {.type = WatchEvent::Type::kDelete, .kv = {.key = std::move(key), .mod_revision = revision}};
}

std::string Disabled(std::string reason) {
  return EncodeDatabaseState({.disabled = SharedDisable{std::move(reason), {}}});
}

TEST(SharedStateCodecTest, StatesReadBackAsWritten) {
  const SharedDatabaseState state{.disabled = SharedDisable{"maintenance", {"ops", "backup"}},
                                  .paused = true,
                                  .route_switch = SharedSwitch{"green", 1'700'000'000'123, "admin (127.0.0.1)"}};
  EXPECT_EQ(DecodeDatabaseState(EncodeDatabaseState(state)).value(), state);
  const SharedDisableAll all{"incident", {"postgres"}, {"ops"}};
  EXPECT_EQ(DecodeDisableAll(EncodeDisableAll(all)).value(), all);
}

TEST(SharedStateCodecTest, ADocumentOfTheWrongShapeIsRefusedWhole) {
  for (std::string_view bad : {"[]", "{\"disabled\":true}", "{\"paused\":\"yes\"}", "{\"switch\":{}}",
                               "{\"disabled\":{\"except_roles\":[1]}}", "not json"}) {
    EXPECT_FALSE(DecodeDatabaseState(bad).ok()) << bad;
  }
}

TEST(SharedStateCodecTest, KeysNameWhatTheyHold) {
  EXPECT_EQ(ParseStateKey(kPrefix, DatabaseStateKey(kPrefix, "a/b")).database, "a/b");
  EXPECT_EQ(ParseStateKey(kPrefix, DisableAllKey(kPrefix)).kind, StateKeyName::Kind::kDisableAll);
  EXPECT_EQ(ParseStateKey(kPrefix, "/fleet/state/databases/").kind, StateKeyName::Kind::kUnknown);
  EXPECT_EQ(ParseStateKey(kPrefix, "/other/state/disable_all").kind, StateKeyName::Kind::kUnknown);
}

TEST(SharedStateTest, AResetAppliesEtcdsStateAndClearsWhatItDoesNotHold) {
  proxy::DatabaseRegistry databases;
  databases.Gate("stale")->Pause(proxy::StateOrigin::kStateFile);
  SharedState state(std::string(kPrefix), databases);
  state.Reset({{.key = DatabaseStateKey(kPrefix, "shop"), .value = Disabled("moving"), .mod_revision = 5}}, 9);
  EXPECT_EQ(state.applied_revision(), 9);
  const proxy::DatabaseGateSnapshot shop = databases.Gate("shop")->Snapshot();
  ASSERT_TRUE(shop.disabled.has_value());
  EXPECT_EQ(shop.disabled->reason, "moving");
  EXPECT_EQ(shop.disabled->origin, proxy::StateOrigin::kFleet);
  EXPECT_FALSE(databases.Gate("stale")->paused());
  EXPECT_FALSE(state.ChangesToPublish().has_value());
}

TEST(SharedStateTest, EventsApplyInOrderAndAnEchoOfAnOlderChangeIsIgnored) {
  proxy::DatabaseRegistry databases;
  SharedState state(std::string(kPrefix), databases);
  state.Reset({}, 1);
  // A local DISABLE, published at revision 2.
  databases.Gate("shop")->Disable({.reason = "local"});
  std::optional<Txn> disable = state.ChangesToPublish();
  ASSERT_TRUE(disable.has_value());
  ASSERT_EQ(disable->compare.size(), 1u);
  EXPECT_EQ(disable->compare[0].number, 0);  // the key did not exist
  state.Published(*disable, 2);
  // Then ENABLE, published at 3, before the watch delivered revision 2.
  databases.Gate("shop")->Enable();
  std::optional<Txn> enable = state.ChangesToPublish();
  ASSERT_TRUE(enable.has_value());
  EXPECT_EQ(enable->compare[0].number, 2);
  EXPECT_EQ(enable->success[0].kind, TxnOperation::Kind::kDelete);
  state.Published(*enable, 3);
  // The echoes: revision 2 must not disable the database again.
  state.Apply(Put(DatabaseStateKey(kPrefix, "shop"), Disabled("local"), 2));
  EXPECT_FALSE(databases.Gate("shop")->Snapshot().disabled.has_value());
  state.Apply(Delete(DatabaseStateKey(kPrefix, "shop"), 3));
  EXPECT_EQ(state.applied_revision(), 3);
  // Another instance's PAUSE and RESUME.
  state.Apply(Put(DatabaseStateKey(kPrefix, "shop"), EncodeDatabaseState({.paused = true}), 4));
  EXPECT_TRUE(databases.Gate("shop")->paused());
  state.Apply(Delete(DatabaseStateKey(kPrefix, "shop"), 5));
  EXPECT_FALSE(databases.Gate("shop")->paused());
  EXPECT_FALSE(state.ChangesToPublish().has_value());
}

TEST(SharedStateTest, RestoreTakesBackAChangeThatWasNotPublished) {
  proxy::DatabaseRegistry databases;
  SharedState state(std::string(kPrefix), databases);
  state.Reset({{.key = DisableAllKey(kPrefix), .value = EncodeDisableAll({"incident", {}, {}}), .mod_revision = 4}},
              4);
  ASSERT_TRUE(databases.disable_all().state().has_value());
  databases.disable_all().Clear();
  databases.Gate("shop")->Pause(proxy::StateOrigin::kAdminCommand);
  const std::optional<Txn> changes = state.ChangesToPublish();
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(changes->success.size(), 2u);
  state.Restore();
  EXPECT_TRUE(databases.disable_all().state().has_value());
  EXPECT_FALSE(databases.Gate("shop")->paused());
  EXPECT_FALSE(state.ChangesToPublish().has_value());
}

}  // namespace
}  // namespace pgvalve::fleet
