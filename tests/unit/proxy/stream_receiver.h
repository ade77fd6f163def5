#pragma once
// What the tests of ByteStream's receive share: a Receiver that receives
// through the callback the relay uses and records how each receive ended,
// and small helpers to send and read text.

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/io_context.hpp>

#include "gtest/gtest.h"
#include "proxy/byte_stream.h"
#include "proxy/relay_buffer.h"

namespace pgvalve::proxy::stream_test {

inline void Send(ByteStream& stream, std::string_view text) {
  auto [error, sent] = stream.TrySend(std::as_bytes(std::span(text)));
  ASSERT_FALSE(error);
  ASSERT_EQ(sent, text.size());
}

inline std::string Text(RelayBuffer& buffer) {
  auto filled = buffer.filled();
  return std::string(reinterpret_cast<const char*>(filled.data()), filled.size());
}

struct Receiver {
  Receiver(ByteStream& stream, size_t capacity) : stream(stream), buffer(capacity) {}

  void Start(ReceiveStart start = ReceiveStart::kTrustEdge) {
    result.reset();
    stream.StartReceive(buffer, start, {&Receiver::Done, this});
    EXPECT_FALSE(result) << "the callback ran inside StartReceive";
  }
  static void Done(void* target, error_code error, size_t read) {
    auto* self = static_cast<Receiver*>(target);
    ++self->calls;
    self->result.emplace(error, read);
  }
  // Runs the io_context until the receive has completed; commits its bytes.
  // A receive that waits for an edge that never comes fails the test after
  // `patience` instead of hanging it.
  void Finish(asio::io_context& context, std::chrono::seconds patience = std::chrono::seconds(10)) {
    // A context that ran out of work stops; this receive is new work.
    context.restart();
    const auto give_up = std::chrono::steady_clock::now() + patience;
    while (!result && std::chrono::steady_clock::now() < give_up && context.run_one_until(give_up) > 0) {
    }
    ASSERT_TRUE(result) << "the receive never completed";
    if (!result->first) buffer.Commit(result->second);
  }
  error_code error() const { return result->first; }

  ByteStream& stream;
  RelayBuffer buffer;
  std::optional<std::pair<error_code, size_t>> result;
  int calls = 0;
};

}  // namespace pgvalve::proxy::stream_test
