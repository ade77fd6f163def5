#pragma once
// A request held by PAUSE for longer than hold_timeout is not run: the
// client gets 57P03 and the request's messages are dropped as they come,
// up to its end. A Query, a FunctionCall or a lone Sync ends with itself;
// an extended-protocol batch ends with its Sync. Whatever the client sent
// after it is kept, held again at its first message. Tags only, no I/O.

#include "protocol/message_scanner.h"
#include "protocol/message_tags.h"

namespace pgvalve::proxy {

class HeldRequestDiscard {
 public:
  // `first`: the held request's first message.
  explicit HeldRequestDiscard(protocol::FrontendTag first)
      : until_sync_(first != protocol::FrontendTag::kQuery && first != protocol::FrontendTag::kFunctionCall &&
                    first != protocol::FrontendTag::kSync) {}

  // kStream for the request's messages (streamed into the void), kHold at
  // the first message after its last.
  protocol::MessageAction OnMessageStart(protocol::FrontendTag tag) {
    if (last_message_started_) return protocol::MessageAction::kHold;
    if (!until_sync_ || tag == protocol::FrontendTag::kSync) last_message_started_ = true;
    return protocol::MessageAction::kStream;
  }

  // The whole request has been dropped once its last message has started
  // and the scanner is back between messages.
  bool Complete(bool at_message_boundary) const { return last_message_started_ && at_message_boundary; }

 private:
  bool until_sync_;
  bool last_message_started_ = false;
};

}  // namespace pgvalve::proxy
