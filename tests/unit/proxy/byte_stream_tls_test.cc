// ByteStream over TLS, both ends in one thread over a socketpair: the
// relay's receive reads through OpenSSL, which reads ahead, so records that
// arrived together, or more than OpenSSL's buffer holds, are in OpenSSL or
// still in the socket with no readiness edge to come. Each test here would
// hang, not fail, if the receive waited for one; Receiver::Finish gives up.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "proxy/byte_stream.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certificates.h"
#include "tests/unit/proxy/stream_receiver.h"
#include "tls/tls_connection.h"
#include "tls/tls_context.h"

namespace pgvalve::proxy {
namespace {

using stream_test::Receiver;
using stream_test::Send;
using stream_test::Text;

// Two ByteStreams over a socketpair with TLS between them: `server` as
// pgvalve's client leg, `client` as an application.
class ByteStreamTlsTest : public ::testing::Test {
 protected:
  ByteStreamTlsTest() {
    const pgvalve::test::TestCertificate certificate =
        ca_.Issue({.common_name = "localhost", .dns_names = {"localhost"}});
    pgvalve::test::WriteSecretFile(dir_.path() + "/server.crt", certificate.certificate_pem, 0644);
    pgvalve::test::WriteSecretFile(dir_.path() + "/server.key", certificate.key_pem, 0600);
    config::ClientTlsSettings settings;
    settings.mode = config::ClientTlsMode::kRequire;
    settings.cert_file = dir_.path() + "/server.crt";
    settings.key_file = dir_.path() + "/server.key";
    server_context_ = *tls::MakeServerContext(settings, "proxy");
    config::ServerTlsSettings upstream;
    upstream.mode = config::ServerTlsMode::kRequire;
    client_context_ = *tls::MakeClientContext(upstream, "localhost", "upstreams.test");

    UnixStream a(context_);
    UnixStream b(context_);
    asio::local::connect_pair(a, b);
    server_.emplace(std::move(a));
    client_.emplace(std::move(b));
    auto server_tls = tls::TlsConnection::Create(server_context_.get(), server_->PrepareForTls(),
                                                 tls::TlsConnection::Role::kServer);
    auto client_tls = tls::TlsConnection::Create(client_context_.get(), client_->PrepareForTls(),
                                                 tls::TlsConnection::Role::kClient);
    if (!server_tls.ok() || !client_tls.ok()) {
      ADD_FAILURE() << "cannot create the TLS connections";
      return;
    }
    bool server_done = false;
    bool client_done = false;
    for (int step = 0; step < 50 && !(server_done && client_done); ++step) {
      absl::StatusOr<tls::Wait> client_step = client_done ? tls::Wait::kNone : (*client_tls)->Handshake();
      absl::StatusOr<tls::Wait> server_step = server_done ? tls::Wait::kNone : (*server_tls)->Handshake();
      if (!client_step.ok() || !server_step.ok()) {
        ADD_FAILURE() << "handshake failed: " << client_step.status() << " / " << server_step.status();
        return;
      }
      client_done = *client_step == tls::Wait::kNone;
      server_done = *server_step == tls::Wait::kNone;
    }
    EXPECT_TRUE(server_done && client_done) << "the handshake did not finish";
    client_tls_ = client_tls->get();
    server_->AdoptTls(*std::move(server_tls));
    client_->AdoptTls(*std::move(client_tls));
  }

  pgvalve::test::TestCa ca_{"byte stream test CA"};
  pgvalve::test::TempDir dir_{"pgvalve-byte-stream-tls"};
  tls::ContextPtr server_context_;
  tls::ContextPtr client_context_;
  asio::io_context context_;
  std::optional<ByteStream> server_;
  std::optional<ByteStream> client_;
  // The client's TLS connection, which client_ owns.
  tls::TlsConnection* client_tls_ = nullptr;
};

TEST_F(ByteStreamTlsTest, RecordsThatArrivedTogetherAreReceivedWithoutAnotherEdge) {
  // Two writes, two records, both in the socket before the first receive.
  Send(*client_, "first");
  Send(*client_, "second");
  Receiver receiver(*server_, 64);
  std::string received;
  while (received.size() < std::string("firstsecond").size()) {
    receiver.Start();
    ASSERT_NO_FATAL_FAILURE(receiver.Finish(context_));
    ASSERT_FALSE(receiver.error()) << receiver.error().message();
    received += Text(receiver.buffer);
    receiver.buffer.Consume(receiver.buffer.filled().size());
  }
  EXPECT_EQ(received, "firstsecond");
  // Then the stream is drained: the next receive waits, holding no storage.
  receiver.Start();
  context_.restart();
  context_.poll();
  EXPECT_FALSE(receiver.result);
  EXPECT_FALSE(receiver.buffer.holds_storage());
  Send(*client_, "third");
  ASSERT_NO_FATAL_FAILURE(receiver.Finish(context_));
  EXPECT_EQ(Text(receiver.buffer), "third");
}

TEST_F(ByteStreamTlsTest, MoreThanOpenSslReadsAtOnceIsReceivedWhole) {
  // Several full records: OpenSSL's read-ahead takes part of them and the
  // rest stays in the socket, whose edge was reported already.
  std::string sent(200 * 1024, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
  auto [error, written] = client_->TrySend(std::as_bytes(std::span(sent)));
  ASSERT_FALSE(error);
  ASSERT_EQ(written, sent.size()) << "a socketpair takes 200 KiB";
  Receiver receiver(*server_, 32 * 1024);
  std::string received;
  while (received.size() < sent.size()) {
    receiver.Start();
    ASSERT_NO_FATAL_FAILURE(receiver.Finish(context_));
    ASSERT_FALSE(receiver.error()) << receiver.error().message();
    received += Text(receiver.buffer);
    receiver.buffer.Consume(receiver.buffer.filled().size());
  }
  EXPECT_EQ(received, sent);
}

TEST_F(ByteStreamTlsTest, WaitReadableSeesARecordOpenSslReadAhead) {
  Send(*client_, "one");
  Send(*client_, "two");
  std::vector<std::byte> buffer(64);
  // Both records leave the socket in this read; only the first is returned.
  auto [error, read] = server_->TryReadSome(buffer);
  ASSERT_FALSE(error);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buffer.data()), read), "one");
  bool readable = false;
  asio::co_spawn(context_, [&]() -> Awaitable<void> {
    auto [wait_error] = co_await server_->WaitReadable();
    readable = !wait_error;
  }, asio::detached);
  context_.run_for(std::chrono::seconds(10));
  ASSERT_TRUE(readable) << "the wait looked at the socket, which has nothing more";
  auto [second_error, second] = server_->TryReadSome(buffer);
  ASSERT_FALSE(second_error);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buffer.data()), second), "two");
}

TEST_F(ByteStreamTlsTest, AKeyUpdateToAnswerDoesNotStallAReadWhileTheSocketBackIsFull) {
  // Fill the socket towards the client, which reads nothing meanwhile, as
  // an application does while it sends a large COPY.
  const std::string chunk(16 * 1024, 'r');
  size_t backlog = 0;
  while (true) {
    auto [error, sent] = server_->TrySend(std::as_bytes(std::span(chunk)));
    ASSERT_FALSE(error);
    if (sent == 0) break;
    backlog += sent;
  }
  // The client asks for new keys both ways. OpenSSL queues the answer for
  // the server's next write: the read goes on without sending anything.
  ASSERT_TRUE(client_tls_->RequestKeyUpdate());
  Send(*client_, "after the update");
  Receiver receiver(*server_, 64);
  receiver.Start();
  ASSERT_NO_FATAL_FAILURE(receiver.Finish(context_));
  ASSERT_FALSE(receiver.error()) << receiver.error().message();
  EXPECT_EQ(Text(receiver.buffer), "after the update");
  // The write that found the socket full is finished with the same bytes,
  // as the relay does, while the client reads; then the server's next bytes
  // carry the answer to the key update first, and come under its new keys.
  const std::string marker = "new keys";
  std::string_view unsent = chunk;
  bool marker_queued = false;
  std::vector<std::byte> sink(64 * 1024);
  std::string tail;
  size_t received = 0;
  const size_t expected = backlog + chunk.size() + marker.size();
  for (int attempts = 0; received < expected && attempts < 100000; ++attempts) {
    if (unsent.empty() && !std::exchange(marker_queued, true)) unsent = marker;
    if (!unsent.empty()) {
      auto [error, sent] = server_->TrySend(std::as_bytes(std::span(unsent)));
      ASSERT_FALSE(error) << error.message();
      unsent.remove_prefix(sent);
    }
    auto [error, read] = client_->TryReadSome(sink);
    if (MustWait(error)) continue;
    ASSERT_FALSE(error) << error.message();
    received += read;
    tail.append(reinterpret_cast<const char*>(sink.data()), read);
    if (tail.size() > 64) tail.erase(0, tail.size() - 64);
  }
  EXPECT_EQ(received, expected);
  EXPECT_TRUE(tail.ends_with(marker));
}

TEST_F(ByteStreamTlsTest, ThePeerClosingIsEof) {
  Receiver receiver(*server_, 64);
  receiver.Start();
  client_->ShutdownSend();
  client_->Close();
  ASSERT_NO_FATAL_FAILURE(receiver.Finish(context_));
  EXPECT_EQ(receiver.error(), asio::error::eof);
  EXPECT_FALSE(receiver.buffer.holds_storage());
}

TEST_F(ByteStreamTlsTest, CancelAbortsAPendingReceiveAndTheNextOneWorks) {
  Receiver receiver(*server_, 64);
  receiver.Start();
  server_->CancelReceive();
  ASSERT_NO_FATAL_FAILURE(receiver.Finish(context_));
  EXPECT_EQ(receiver.error(), asio::error::operation_aborted);
  receiver.Start();
  Send(*client_, "after");
  ASSERT_NO_FATAL_FAILURE(receiver.Finish(context_));
  EXPECT_EQ(Text(receiver.buffer), "after");
}

}  // namespace
}  // namespace pgvalve::proxy
