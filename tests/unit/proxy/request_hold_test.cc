// RequestHold over a unix socketpair: each way a held request's wait ends,
// and what the client sends meanwhile kept for after.

#include "proxy/request_hold.h"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "gtest/gtest.h"

namespace pgvalve::proxy {
namespace {

using Outcome = RequestHold::Outcome;
using std::chrono::steady_clock;

class RequestHoldTest : public ::testing::Test {
 protected:
  RequestHoldTest() {
    UnixStream a(context_);
    UnixStream b(context_);
    asio::local::connect_pair(a, b);
    relay_side_.emplace(std::move(a));
    client_.emplace(std::move(b));
  }

  // Runs the hold's wait to its end; `meanwhile` runs on the executor once
  // the wait has started.
  template <typename Meanwhile>
  std::optional<Outcome> Run(RequestHold& hold, Meanwhile meanwhile) {
    std::optional<Outcome> outcome;
    asio::co_spawn(context_, hold.Wait(*relay_side_, buffer_, counters_),
                   [&](std::exception_ptr failure, Outcome result) {
                     if (!failure) outcome = result;
                   });
    asio::post(context_, meanwhile);
    context_.run_for(std::chrono::seconds(10));
    return outcome;
  }

  void ClientSends(std::string_view text) {
    auto [error, sent] = client_->TrySend(std::as_bytes(std::span(text)));
    ASSERT_FALSE(error);
    ASSERT_EQ(sent, text.size());
  }

  asio::io_context context_;
  std::optional<ByteStream> relay_side_;
  std::optional<ByteStream> client_;
  RelayBuffer buffer_{16};
  SessionCounters counters_;
};

TEST_F(RequestHoldTest, AWakeEndsTheWait) {
  auto hold = std::make_shared<RequestHold>(context_.get_executor(), steady_clock::time_point::max());
  EXPECT_EQ(Run(*hold, [&] { hold->Wake(); }), Outcome::kWoken);
  EXPECT_TRUE(hold->woken());
}

TEST_F(RequestHoldTest, TheDeadlineEndsTheWait) {
  RequestHold hold(context_.get_executor(), steady_clock::now());
  EXPECT_EQ(Run(hold, [] {}), Outcome::kTimedOut);
}

TEST_F(RequestHoldTest, WhatTheClientSendsMeanwhileIsKeptForAfter) {
  auto hold = std::make_shared<RequestHold>(context_.get_executor(), steady_clock::time_point::max());
  // Woken once the wait has read the bytes (checked between handlers; the
  // reactor runs in between).
  std::function<void()> wake_once_read = [&] {
    if (buffer_.empty()) return asio::post(context_, wake_once_read);
    hold->Wake();
  };
  EXPECT_EQ(Run(*hold, [&] {
              ClientSends("pipelined");
              wake_once_read();
            }),
            Outcome::kWoken);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(buffer_.filled().data()), buffer_.filled().size()),
            "pipelined");
  EXPECT_EQ(counters_.bytes_from_client(), 9u);
}

TEST_F(RequestHoldTest, AClientThatLeavesEndsTheWait) {
  RequestHold hold(context_.get_executor(), steady_clock::time_point::max());
  EXPECT_EQ(Run(hold, [&] { client_->Close(); }), Outcome::kClientLeft);
}

TEST_F(RequestHoldTest, BytesThenALeaveEndTheWaitWithTheBytesKept) {
  RequestHold hold(context_.get_executor(), steady_clock::time_point::max());
  EXPECT_EQ(Run(hold, [&] {
              ClientSends("bye");
              client_->Close();
            }),
            Outcome::kClientLeft);
  EXPECT_EQ(buffer_.filled().size(), 3u);
}

TEST_F(RequestHoldTest, AFullBufferStopsWatchingTheClientButNotTheDeadline) {
  ClientSends("0123456789abcdef");
  auto [error, read] = relay_side_->TryReadSome(buffer_.free_space());
  ASSERT_FALSE(error);
  buffer_.Commit(read);
  ASSERT_TRUE(buffer_.full());
  // The client leaves, unseen behind the full buffer; the deadline ends it.
  client_->Close();
  RequestHold hold(context_.get_executor(), steady_clock::now() + std::chrono::milliseconds(20));
  EXPECT_EQ(Run(hold, [] {}), Outcome::kTimedOut);
}

TEST_F(RequestHoldTest, ACancelledWaitEndsAborted) {
  RequestHold hold(context_.get_executor(), steady_clock::time_point::max());
  asio::cancellation_signal cancel;
  std::optional<Outcome> outcome;
  asio::co_spawn(context_, hold.Wait(*relay_side_, buffer_, counters_),
                 asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr failure, Outcome result) {
                   if (!failure) outcome = result;
                 }));
  asio::post(context_, [&] { cancel.emit(asio::cancellation_type::terminal); });
  context_.run_for(std::chrono::seconds(10));
  EXPECT_EQ(outcome, Outcome::kAborted);
}

}  // namespace
}  // namespace pgvalve::proxy
