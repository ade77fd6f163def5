// TLS connections over a socketpair, both ends in one thread: the handshake
// stepped by hand, reads that stop at a record's decrypted bytes, peeks,
// writes that stop when the socket is full, the two ways a peer ends, and
// the contexts' own errors (a missing key, a key of another certificate, a
// CA that signed nothing of the peer's).

#include "tls/tls_connection.h"

#include <gmock/gmock.h>
#include <openssl/err.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>

#include "tests/support/temp_dir.h"
#include "tests/support/test_certificates.h"
#include "tls/tls_context.h"

namespace pgvalve::tls {
namespace {

using test::TempDir;
using test::TestCa;
using test::TestCertificate;
using test::WriteSecretFile;
using ::testing::HasSubstr;
using Outcome = IoResult::Outcome;

std::span<const std::byte> Bytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}
std::string Text(std::span<const std::byte> bytes, size_t size) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), size);
}

class TlsConnectionTest : public ::testing::Test {
 protected:
  TlsConnectionTest() {
    const TestCertificate server = ca_.Issue({.common_name = "localhost", .dns_names = {"localhost"}});
    WriteSecretFile(Path("server.crt"), server.certificate_pem, 0644);
    WriteSecretFile(Path("server.key"), server.key_pem, 0600);
    WriteSecretFile(Path("ca.crt"), ca_.certificate_pem(), 0644);
    WriteSecretFile(Path("other_ca.crt"), other_ca_.certificate_pem(), 0644);
  }
  ~TlsConnectionTest() override {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }

  std::string Path(std::string_view name) const { return dir_.path() + "/" + std::string(name); }

  config::ClientTlsSettings ServerSettings() const {
    config::ClientTlsSettings settings;
    settings.mode = config::ClientTlsMode::kRequire;
    settings.cert_file = Path("server.crt");
    settings.key_file = Path("server.key");
    return settings;
  }
  config::ServerTlsSettings ClientSettings(std::string_view ca) const {
    config::ServerTlsSettings settings;
    settings.mode = config::ServerTlsMode::kVerifyFull;
    settings.ca_file = Path(ca);
    return settings;
  }

  // Both ends of a fresh socketpair, with the contexts given.
  void Connect(SSL_CTX* server_context, SSL_CTX* client_context) {
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
    auto server = TlsConnection::Create(server_context, fds_[0], TlsConnection::Role::kServer);
    auto client = TlsConnection::Create(client_context, fds_[1], TlsConnection::Role::kClient);
    ASSERT_TRUE(server.ok() && client.ok());
    server_ = *std::move(server);
    client_ = *std::move(client);
  }

  // Steps both handshakes in turn; the first error, or OK once both are done.
  absl::Status Handshake() {
    bool server_done = false;
    bool client_done = false;
    for (int step = 0; step < 50 && !(server_done && client_done); ++step) {
      if (!client_done) {
        absl::StatusOr<Wait> wait = client_->Handshake();
        if (!wait.ok()) return wait.status();
        client_done = *wait == Wait::kNone;
      }
      if (!server_done) {
        absl::StatusOr<Wait> wait = server_->Handshake();
        if (!wait.ok()) return wait.status();
        server_done = *wait == Wait::kNone;
      }
    }
    return server_done && client_done ? absl::OkStatus() : absl::DeadlineExceededError("handshake did not finish");
  }

  void ConnectAndHandshake() {
    absl::StatusOr<ContextPtr> server = MakeServerContext(ServerSettings(), "proxy");
    absl::StatusOr<ContextPtr> client = MakeClientContext(ClientSettings("ca.crt"), "localhost", "upstreams.blue");
    ASSERT_TRUE(server.ok()) << server.status();
    ASSERT_TRUE(client.ok()) << client.status();
    server_context_ = *std::move(server);
    client_context_ = *std::move(client);
    Connect(server_context_.get(), client_context_.get());
    ASSERT_TRUE(Handshake().ok());
  }

  TestCa ca_{"unit test CA"};
  TestCa other_ca_{"other CA"};
  TempDir dir_{"pgvalve-tls-unit"};
  int fds_[2] = {-1, -1};
  ContextPtr server_context_;
  ContextPtr client_context_;
  std::unique_ptr<TlsConnection> server_;
  std::unique_ptr<TlsConnection> client_;
};

TEST_F(TlsConnectionTest, HandshakeChoosesAlpnPostgresql) {
  ConnectAndHandshake();
  EXPECT_EQ(server_->AlpnProtocol(), "postgresql");
  EXPECT_THAT(server_->Description(), HasSubstr("TLSv1.3"));
  EXPECT_FALSE(server_->PeerCertificateVerified()) << "no client certificate was asked for";
  EXPECT_TRUE(client_->PeerCertificateVerified());
  // The server end presents the very certificate the client end saw: what
  // channel binding needs of pgvalve's client leg.
  EXPECT_TRUE(server_->PresentsCertificateOf(*client_));
  EXPECT_FALSE(client_->PresentsCertificateOf(*server_)) << "the client end presents none";
}

TEST_F(TlsConnectionTest, ReadsTakeWhatTheRecordHoldsAndPeeksLeaveIt) {
  ConnectAndHandshake();
  std::array<std::byte, 64> buffer;
  IoResult nothing = server_->Read(buffer);
  EXPECT_EQ(nothing.outcome, Outcome::kWouldBlock);
  EXPECT_EQ(nothing.wait, Wait::kReadable);

  ASSERT_EQ(client_->Write(Bytes("hello")).bytes, 5u);
  EXPECT_FALSE(server_->HasDecryptedBytes()) << "nothing is decrypted before a read";
  IoResult peeked = server_->Peek(std::span(buffer).first(2));
  ASSERT_EQ(peeked.outcome, Outcome::kDone);
  EXPECT_EQ(Text(buffer, peeked.bytes), "he");
  EXPECT_TRUE(server_->HasDecryptedBytes());
  IoResult first = server_->Read(std::span(buffer).first(2));
  EXPECT_EQ(Text(buffer, first.bytes), "he");
  IoResult rest = server_->Read(buffer);
  EXPECT_EQ(Text(buffer, rest.bytes), "llo");
  EXPECT_FALSE(server_->HasDecryptedBytes());
}

TEST_F(TlsConnectionTest, OneSocketReadTakesRecordsThatArrivedTogether) {
  ConnectAndHandshake();
  ASSERT_EQ(client_->Write(Bytes("one")).bytes, 3u);
  ASSERT_EQ(client_->Write(Bytes("two")).bytes, 3u);
  std::array<std::byte, 64> buffer;
  IoResult first = server_->Read(buffer);
  ASSERT_EQ(first.outcome, Outcome::kDone);
  EXPECT_EQ(Text(buffer, first.bytes), "one") << "a read returns one record";
  // OpenSSL read both records from the socket at once, which it then had
  // no more of: the second record is OpenSSL's alone.
  EXPECT_TRUE(server_->socket_drained());
  EXPECT_FALSE(server_->HasDecryptedBytes());
  EXPECT_TRUE(server_->HasBufferedBytes());
  EXPECT_TRUE(server_->ReadableNow());
  IoResult second = server_->Read(buffer);
  EXPECT_EQ(Text(buffer, second.bytes), "two");
  EXPECT_FALSE(server_->HasBufferedBytes());
  EXPECT_FALSE(server_->ReadableNow());
}

TEST_F(TlsConnectionTest, ASocketReadThatFillsOpenSslsBufferIsNotDrained) {
  ConnectAndHandshake();
  const std::string big(64 * 1024, 'y');
  size_t sent = 0;
  while (sent < big.size()) {
    IoResult written = client_->Write(Bytes(std::string_view(big).substr(sent)));
    ASSERT_EQ(written.outcome, Outcome::kDone);
    sent += written.bytes;
  }
  std::array<std::byte, 1024> buffer;
  ASSERT_EQ(server_->Read(buffer).outcome, Outcome::kDone);
  EXPECT_FALSE(server_->socket_drained()) << "64 KiB of records do not fit in one read-ahead";
  size_t received = 1024;
  while (true) {
    IoResult read = server_->Read(buffer);
    if (read.outcome == Outcome::kWouldBlock) break;
    ASSERT_EQ(read.outcome, Outcome::kDone);
    received += read.bytes;
  }
  EXPECT_EQ(received, big.size());
  EXPECT_TRUE(server_->socket_drained());
}

TEST_F(TlsConnectionTest, APartOfARecordIsBufferedButNotReadable) {
  ConnectAndHandshake();
  ASSERT_EQ(client_->Write(Bytes("hello")).bytes, 5u);
  // Take the record off the socket, then let it arrive in two parts.
  std::array<char, 256> record;
  const ssize_t size = ::recv(fds_[0], record.data(), record.size(), 0);
  ASSERT_GT(size, 10);
  ASSERT_EQ(::send(fds_[1], record.data(), 7, 0), 7);
  std::array<std::byte, 64> buffer;
  EXPECT_EQ(server_->Read(buffer).outcome, Outcome::kWouldBlock);
  EXPECT_TRUE(server_->HasBufferedBytes());
  EXPECT_FALSE(server_->ReadableNow()) << "the rest of the record has not come";
  ASSERT_EQ(::send(fds_[1], record.data() + 7, size - 7, 0), size - 7);
  EXPECT_TRUE(server_->ReadableNow());
  IoResult read = server_->Read(buffer);
  EXPECT_EQ(Text(buffer, read.bytes), "hello");
}

TEST_F(TlsConnectionTest, AFailedReadLeavesNoErrorForTheNextConnection) {
  ConnectAndHandshake();
  // An application-data record that decrypts to nothing valid.
  const std::string forged("\x17\x03\x03\x00\x20" + std::string(32, 'z'));
  ASSERT_EQ(::send(fds_[1], forged.data(), forged.size(), 0), static_cast<ssize_t>(forged.size()));
  std::array<std::byte, 64> buffer;
  EXPECT_EQ(server_->Read(buffer).outcome, Outcome::kFailed);
  EXPECT_EQ(ERR_peek_error(), 0u) << "the failure's errors stayed queued";
  // Reads do not empty the queue first, so one left behind would make this
  // read, which only has to wait, look like a failure.
  ConnectAndHandshake();
  EXPECT_EQ(server_->Read(buffer).outcome, Outcome::kWouldBlock);
}

TEST_F(TlsConnectionTest, AWriteStopsWhenTheSocketIsFullAndGoesOnFromWhereItStopped) {
  ConnectAndHandshake();
  const std::string big(4 << 20, 'x');
  size_t sent = 0;
  while (sent < big.size()) {
    IoResult written = client_->Write(Bytes(std::string_view(big).substr(sent)));
    if (written.outcome == Outcome::kWouldBlock) {
      EXPECT_EQ(written.wait, Wait::kWritable);
      break;
    }
    ASSERT_EQ(written.outcome, Outcome::kDone);
    sent += written.bytes;
  }
  ASSERT_LT(sent, big.size()) << "a socketpair cannot take 4 MiB at once";
  // Drain what arrived, then the retried write goes on with the same bytes.
  std::array<std::byte, 16384> buffer;
  size_t received = 0;
  while (received < big.size()) {
    IoResult read = server_->Read(buffer);
    if (read.outcome == Outcome::kWouldBlock) {
      IoResult more = client_->Write(Bytes(std::string_view(big).substr(sent)));
      ASSERT_NE(more.outcome, Outcome::kFailed) << client_->last_error();
      sent += more.bytes;
      continue;
    }
    ASSERT_EQ(read.outcome, Outcome::kDone) << server_->last_error();
    received += read.bytes;
  }
  EXPECT_EQ(sent, big.size());
  EXPECT_EQ(received, big.size());
}

TEST_F(TlsConnectionTest, CloseNotifyAndAPlainCloseBothEndTheStream) {
  ConnectAndHandshake();
  std::array<std::byte, 16> buffer;
  client_->SendCloseNotify();
  EXPECT_EQ(server_->Read(buffer).outcome, Outcome::kEndOfStream);

  ConnectAndHandshake();
  ::close(std::exchange(fds_[1], -1));  // as libpq does: no close_notify
  EXPECT_EQ(server_->Read(buffer).outcome, Outcome::kEndOfStream);
}

TEST_F(TlsConnectionTest, ACertificateOfAnotherCaFailsTheHandshakeWithOpenSslsReason) {
  absl::StatusOr<ContextPtr> server = MakeServerContext(ServerSettings(), "proxy");
  absl::StatusOr<ContextPtr> client =
      MakeClientContext(ClientSettings("other_ca.crt"), "localhost", "upstreams.blue");
  ASSERT_TRUE(server.ok() && client.ok());
  Connect(server->get(), client->get());
  absl::Status handshake = Handshake();
  EXPECT_THAT(std::string(handshake.message()), HasSubstr("certificate verify failed"));
}

TEST_F(TlsConnectionTest, AWrongHostNameFailsVerifyFull) {
  absl::StatusOr<ContextPtr> server = MakeServerContext(ServerSettings(), "proxy");
  absl::StatusOr<ContextPtr> client = MakeClientContext(ClientSettings("ca.crt"), "db.example", "upstreams.blue");
  ASSERT_TRUE(server.ok() && client.ok());
  Connect(server->get(), client->get());
  EXPECT_THAT(std::string(Handshake().message()), HasSubstr("hostname mismatch"));
}

TEST_F(TlsConnectionTest, ContextErrorsNameTheFile) {
  config::ClientTlsSettings missing = ServerSettings();
  missing.key_file = Path("missing.key");
  absl::StatusOr<ContextPtr> no_key = MakeServerContext(missing, "proxy");
  ASSERT_FALSE(no_key.ok());
  EXPECT_THAT(std::string(no_key.status().message()), HasSubstr("proxy: cannot load private key"));

  const TestCertificate other = ca_.Issue({.common_name = "other"});
  WriteSecretFile(Path("other.key"), other.key_pem, 0600);
  config::ClientTlsSettings mismatched = ServerSettings();
  mismatched.key_file = Path("other.key");
  absl::StatusOr<ContextPtr> wrong_key = MakeServerContext(mismatched, "admin");
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_THAT(std::string(wrong_key.status().message()), HasSubstr("key values mismatch"));

  config::ClientTlsSettings ciphers = ServerSettings();
  ciphers.ciphers = "NOT-A-CIPHER";
  absl::StatusOr<ContextPtr> no_cipher = MakeServerContext(ciphers, "proxy");
  ASSERT_FALSE(no_cipher.ok());
  EXPECT_THAT(std::string(no_cipher.status().message()), HasSubstr("client_tls_ciphers \"NOT-A-CIPHER\""));
}

}  // namespace
}  // namespace pgvalve::tls
