#include "proxy/reactor_receive.h"

#include <cassert>
#include <cerrno>

namespace pgvalve::proxy {

namespace detail = asio::detail;

class ReactorReceive::Operation : public detail::reactor_op {
 public:
  Operation() : reactor_op(error_code(), &Perform, &Complete) {}

  // Where the pending receive is registered, for Cancel.
  detail::reactor* reactor = nullptr;
  // The socket's own field: null once it is closed.
  detail::reactor::per_descriptor_data* registration = nullptr;
  int descriptor = -1;
  RelayBuffer* buffer = nullptr;
  ReceiveCallback callback;
  ReceiveSource source;
  bool pending = false;
  // Set when the ReactorReceive went away while this was pending.
  bool orphaned = false;

  // Runs in the reactor (at once when the last receive filled its buffer,
  // or for kReadFirst): a read that finds nothing leaves the operation
  // queued and the buffer without storage.
  static status Perform(reactor_op* base) {
    auto* self = static_cast<Operation*>(base);
    const std::span<std::byte> space = self->buffer->free_space();
    if (self->source.read != nullptr) return PerformThroughSource(*self, space);
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
  static status PerformThroughSource(Operation& self, std::span<std::byte> space) {
    const SourceRead read = self.source.read(self.source.target, space);
    switch (read.found) {
      case SourceRead::Found::kBytes:
        self.bytes_transferred_ = read.bytes;
        return done_and_exhausted;
      case SourceRead::Found::kBytesAndMore:
        self.bytes_transferred_ = read.bytes;
        return done;
      case SourceRead::Found::kNothing:
        self.buffer->Release();
        return not_done;
      case SourceRead::Found::kError:
        break;
    }
    self.ec_ = read.error;
    self.buffer->Release();
    return done;
  }

  // `owner` is null when the io_context is being destroyed with this
  // operation still queued: nothing is called then.
  static void Complete(void* owner, detail::operation* base, const error_code& /*ignored*/, size_t /*ignored*/) {
    auto* self = static_cast<Operation*>(base);
    self->pending = false;
    if (self->orphaned) {
      delete self;
      return;
    }
    if (owner == nullptr) return;
    // The callback may start the next receive on this very operation.
    self->callback.run(self->callback.target, self->ec_, self->bytes_transferred_);
  }
};

ReactorReceive& ReactorReceive::operator=(ReactorReceive&& other) noexcept {
  if (this != &other) {
    Abandon();
    operation_ = std::exchange(other.operation_, nullptr);
  }
  return *this;
}

void ReactorReceive::Abandon() {
  if (operation_ == nullptr) return;
  if (operation_->pending) {
    operation_->orphaned = true;
  } else {
    delete operation_;
  }
  operation_ = nullptr;
}

void ReactorReceive::Cancel() {
  if (operation_ == nullptr) return;
  Operation& operation = *operation_;
  // A closed socket has no registration left, and no receive queued: its
  // close already completed it.
  if (!operation.pending || *operation.registration == nullptr) return;
  operation.reactor->cancel_ops_by_key(operation.descriptor, *operation.registration, detail::reactor::read_op,
                                       &operation);
}

void ReactorReceive::Start(detail::reactor& reactor, int descriptor,
                           detail::reactor::per_descriptor_data* registration, RelayBuffer& buffer,
                           ReceiveStart start, ReceiveCallback done, ReceiveSource source) {
  if (operation_ == nullptr) operation_ = new Operation;
  Operation& operation = *operation_;
  assert(!operation.pending);
  assert(!buffer.full());
  operation.ec_ = error_code();
  operation.bytes_transferred_ = 0;
  // The key Cancel names it by.
  operation.cancellation_key_ = &operation;
  operation.reactor = &reactor;
  operation.registration = registration;
  operation.descriptor = descriptor;
  operation.buffer = &buffer;
  operation.callback = done;
  operation.source = source;
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
