#include "proxy/reactor_receive.h"

#include <cassert>
#include <cerrno>
#include <optional>

namespace pgvalve::proxy {

namespace detail = asio::detail;

class ReactorReceive::Operation : public detail::reactor_op {
 public:
  Operation() : reactor_op(error_code(), &Perform, &Complete) {}

  int descriptor = -1;
  RelayBuffer* buffer = nullptr;
  // Optional because Boost 1.81's any_completion_handler cannot be
  // move-assigned (its operator= recurses); emplace and reset only.
  std::optional<asio::any_completion_handler<Signature>> handler;
  bool pending = false;
  // Set when the ReactorReceive went away while this was pending.
  bool orphaned = false;

  // Runs in the reactor (at once when the last receive filled its buffer,
  // or for kReadFirst): a read that finds nothing leaves the operation queued and the
  // buffer without storage.
  static status Perform(reactor_op* base) {
    auto* self = static_cast<Operation*>(base);
    const std::span<std::byte> space = self->buffer->free_space();
    while (true) {
      const ssize_t got = ::recv(self->descriptor, space.data(), space.size(), MSG_DONTWAIT);
      if (got > 0) {
        self->bytes_transferred_ = static_cast<size_t>(got);
        // Exhausted: the socket had less than the space, so the next
        // receive waits for the next edge instead of trying at once.
        return self->bytes_transferred_ < space.size() ? done_and_exhausted : done;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && errno == EAGAIN) {
        self->buffer->Release();
        return not_done;
      }
      self->ec_ = got == 0 ? error_code(asio::error::eof) : error_code(errno, boost::system::system_category());
      self->buffer->Release();
      return done;
    }
  }

 private:
  // `owner` is null when the io_context is being destroyed with this
  // operation still queued: the handler is destroyed, not called.
  static void Complete(void* owner, detail::operation* base, const error_code& /*ignored*/, size_t /*ignored*/) {
    auto* self = static_cast<Operation*>(base);
    asio::any_completion_handler<Signature> handler = *std::move(self->handler);
    self->handler.reset();
    const error_code error = self->ec_;
    const size_t bytes = self->bytes_transferred_;
    self->pending = false;
    if (self->orphaned) delete self;
    if (owner == nullptr || !handler) return;
    // The slot's handler names this socket; it has nothing left to cancel.
    asio::get_associated_cancellation_slot(handler).clear();
    std::move(handler)(error, bytes);
  }
};

namespace {

// Installed in the handler's cancellation slot (a parallel group ending the
// other branches, for one): takes the pending receive off the reactor,
// which completes it with operation_aborted.
class CancelReceive {
 public:
  CancelReceive(detail::reactor& reactor, detail::reactor::per_descriptor_data* registration, int descriptor)
      : reactor_(reactor), registration_(registration), descriptor_(descriptor) {}

  void operator()(asio::cancellation_type_t type) {
    constexpr auto kCancels =
        asio::cancellation_type::terminal | asio::cancellation_type::partial | asio::cancellation_type::total;
    if ((type & kCancels) == asio::cancellation_type::none) return;
    // A closed socket has no registration left, and no receive.
    reactor_.cancel_ops_by_key(descriptor_, *registration_, detail::reactor::read_op, this);
  }

 private:
  detail::reactor& reactor_;
  // The socket's own field: null once it is closed.
  detail::reactor::per_descriptor_data* registration_;
  int descriptor_;
};

}  // namespace

ReactorReceive::ReactorReceive() : operation_(new Operation) {}

ReactorReceive::~ReactorReceive() {
  if (operation_->pending) {
    operation_->orphaned = true;
  } else {
    delete operation_;
  }
}

void ReactorReceive::Start(detail::reactor& reactor, int descriptor,
                           detail::reactor::per_descriptor_data* registration, RelayBuffer& buffer,
                           ReceiveStart start, asio::any_completion_handler<Signature> handler) {
  Operation& operation = *operation_;
  assert(!operation.pending);
  assert(!buffer.full());
  operation.ec_ = error_code();
  operation.bytes_transferred_ = 0;
  operation.cancellation_key_ = nullptr;
  operation.descriptor = descriptor;
  operation.buffer = &buffer;
  if (asio::cancellation_slot slot = asio::get_associated_cancellation_slot(handler); slot.is_connected()) {
    operation.cancellation_key_ = &slot.emplace<CancelReceive>(reactor, registration, descriptor);
  }
  operation.handler.emplace(std::move(handler));
  operation.pending = true;
  if (start == ReceiveStart::kReadFirst && *registration != nullptr &&
      Operation::Perform(&operation) != detail::reactor_op::not_done) {
    reactor.post_immediate_completion(&operation, /*is_continuation=*/false);
    return;
  }
  // An empty buffer goes back to the pool while the receive waits; Perform
  // takes storage again when there are bytes.
  buffer.Release();
  // Speculative: performed at once when the reactor says the last receive
  // may have left bytes, queued for the next edge otherwise. A closed
  // socket completes it with bad_descriptor.
  reactor.start_op(detail::reactor::read_op, descriptor, *registration, &operation, /*is_continuation=*/false,
                   /*allow_speculative=*/true);
}

}  // namespace pgvalve::proxy
