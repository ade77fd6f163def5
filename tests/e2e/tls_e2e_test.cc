// TLS on both legs against a real PostgreSQL 15 with ssl = on: libpq's
// sslmodes towards pgvalve (require, verify-full with the right and a wrong
// host name), client_tls_sslmode = require refusing a plain client, direct
// TLS with and without ALPN (Python's ssl module: libpq 15 cannot do direct
// TLS), client certificates, a RELOAD that swaps the certificate while an
// old session goes on, a client stalling mid-handshake, the admin console
// over TLS, and the server leg's verify-full with the right and a wrong CA,
// its control connection included. Certificates are made by the test.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/admin_test_support.h"
#include "tests/e2e/raw_connection.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/log_file.h"
#include "tests/support/pg_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certificates.h"

namespace pgvalve::test {

// Not used: every test here makes the pgvalve it needs.
AdminPgvalveOptions SharedPgvalveOptions(const PgServer&) { return {}; }

namespace {

using namespace std::chrono_literals;

constexpr uint64_t kFirstProxySerial = 1001;
constexpr uint64_t kRenewedProxySerial = 2002;

// The certificates of a test run and the files pgvalve and libpq read.
struct Pki {
  TestCa proxy_ca{"pgvalve test CA"};
  TestCa server_ca{"postgres test CA"};
  TestCa unrelated_ca{"unrelated CA"};
  TempDir dir{"pgvalve-tls-test"};

  std::string Path(std::string_view name) const { return dir.path() + "/" + std::string(name); }

  Pki() {
    WriteProxyCertificate(kFirstProxySerial);
    WriteSecretFile(Path("proxy_ca.crt"), proxy_ca.certificate_pem(), 0644);
    WriteSecretFile(Path("server_ca.crt"), server_ca.certificate_pem(), 0644);
    WriteSecretFile(Path("unrelated_ca.crt"), unrelated_ca.certificate_pem(), 0644);
    const TestCertificate client = proxy_ca.Issue({.common_name = "app_user"});
    WriteSecretFile(Path("client.crt"), client.certificate_pem, 0644);
    WriteSecretFile(Path("client.key"), client.key_pem, 0600);
  }

  // pgvalve's certificate for localhost and 127.0.0.1, with `serial`.
  void WriteProxyCertificate(uint64_t serial) {
    const TestCertificate proxy = proxy_ca.Issue(
        {.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}, .serial = serial});
    WriteSecretFile(Path("proxy.crt"), proxy.certificate_pem, 0644);
    WriteSecretFile(Path("proxy.key"), proxy.key_pem, 0600);
  }

  // PostgreSQL's certificate, also written out for a pgvalve that presents
  // it (channel binding).
  PgServer::Options ServerOptions() const {
    const TestCertificate server =
        server_ca.Issue({.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
    WriteSecretFile(Path("server.crt"), server.certificate_pem, 0644);
    WriteSecretFile(Path("server.key"), server.key_pem, 0600);
    PgServer::Options options;
    options.tls = PgServer::Options::Tls{server.certificate_pem, server.key_pem};
    // A database PostgreSQL serves over TLS only, for server_tls_sslmode = allow.
    options.hba_first = {"hostnossl tls_only all 127.0.0.1/32 reject"};
    return options;
  }

  // Lines of [proxy] or [admin] turning the client leg's TLS on, with
  // pgvalve's own certificate or (`name` "server") PostgreSQL's.
  std::string ClientTls(std::string_view mode, std::string_view extra = "", std::string_view name = "proxy") const {
    return "client_tls_sslmode = \"" + std::string(mode) + "\"\n" + "client_tls_cert_file = \"" +
           Path(std::string(name) + ".crt") + "\"\n" + "client_tls_key_file = \"" +
           Path(std::string(name) + ".key") + "\"\n" + std::string(extra);
  }
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new Pki();
    pg_ = new PgServer(pki_->ServerOptions());
  }
  static void TearDownTestSuite() {
    delete pg_;
    delete pki_;
  }

  // The test's pgvalve, stopped (and checked) after the test body's
  // connections are gone.
  AdminPgvalve* StartPgvalve(AdminPgvalveOptions options) {
    pgvalve_ = std::make_unique<AdminPgvalve>(*pg_, std::move(options));
    return pgvalve_.get();
  }
  void TearDown() override {
    if (pgvalve_) {
      EXPECT_EQ(pgvalve_->StopAndCheck(), "");
    }
  }

  // An upstream "tls" on the test's PostgreSQL with these server_tls_*
  // settings, serving database "tlsdb".
  static std::string TlsUpstream(std::string_view mode, std::string_view ca_file) {
    return "\n[upstreams.tls]\nhost = \"127.0.0.1\"\nport = " + std::to_string(pg_->port()) +
           "\ncontrol_user = \"postgres\"\nserver_tls_sslmode = \"" + std::string(mode) + "\"\n" +
           "server_tls_ca_file = \"" + std::string(ca_file) + "\"\n" + RouteToml("tlsdb", "tls");
  }

  static Pki* pki_;
  static PgServer* pg_;
  std::unique_ptr<AdminPgvalve> pgvalve_;
};

Pki* TlsTest::pki_ = nullptr;
PgServer* TlsTest::pg_ = nullptr;

// The ErrorResponse a plain client gets for its StartupMessage.
std::map<char, std::string> PlainStartupError(uint16_t port, std::string_view database) {
  RawConnection raw = RawConnection::ConnectTcp(port);
  raw.Send(StartupPacket({{"user", "postgres"}, {"database", std::string(database)}}));
  const Deadline deadline = DeadlineAfter(20s);
  while (std::optional<BackendMessage> message = raw.ReadMessage(deadline)) {
    if (message->tag == 'E') return ErrorFields(message->body);
    if (message->tag == 'Z') break;
  }
  return {};
}

TEST_F(TlsTest, RequireServesTlsClientsAndRefusesPlainOnes) {
  auto pgvalve = StartPgvalve({.proxy_toml = pki_->ClientTls("require")});

  PgConn tls = Connect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=require"));
  EXPECT_EQ(PQsslInUse(tls.get()), 1);
  EXPECT_EQ(ScalarString(tls.get(), "SELECT 40 + 2"), "42");
  EXPECT_EQ(PeerCertificateSerial(tls.get()), kFirstProxySerial);

  const std::string verify_full = "sslmode=verify-full sslrootcert=" + pki_->Path("proxy_ca.crt");
  PgConn verified = Connect(
      pgvalve->ClientConnString("postgres", "postgres", verify_full + " host=localhost hostaddr=127.0.0.1"));
  EXPECT_EQ(ScalarString(verified.get(), "SELECT 1"), "1");

  const std::string wrong_name = ConnectError(
      pgvalve->ClientConnString("postgres", "postgres", verify_full + " host=db.example hostaddr=127.0.0.1"));
  EXPECT_NE(wrong_name.find("does not match host name \"db.example\""), std::string::npos) << wrong_name;

  const std::string other_ca = ConnectError(pgvalve->ClientConnString(
      "postgres", "postgres", "sslmode=verify-ca sslrootcert=" + pki_->Path("unrelated_ca.crt")));
  EXPECT_NE(other_ca.find("certificate verify failed"), std::string::npos) << other_ca;

  const std::map<char, std::string> refused = PlainStartupError(pgvalve->listen_port(), "postgres");
  EXPECT_EQ(refused.count('C') ? refused.at('C') : "", "28000");
  EXPECT_EQ(refused.count('M') ? refused.at('M') : "", "TLS is required to connect to pgvalve");
  const std::string plain = ConnectError(pgvalve->ClientConnString("postgres", "postgres", "sslmode=disable"));
  EXPECT_NE(plain.find("TLS is required"), std::string::npos) << plain;
}

TEST_F(TlsTest, PreferServesPlainAndTlsClients) {
  auto pgvalve = StartPgvalve({.proxy_toml = pki_->ClientTls("prefer")});
  PgConn plain = Connect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=disable"));
  EXPECT_EQ(PQsslInUse(plain.get()), 0);
  PgConn tls = Connect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=require"));
  EXPECT_EQ(PQsslInUse(tls.get()), 1);
  // SHOW CLIENTS says which sessions are encrypted, and how.
  PgConn admin = Connect(pgvalve->AdminConnString());
  const ResultTable clients = QueryTable(admin.get(), "SHOW CLIENTS");
  const std::optional<size_t> tls_row = clients.FindRow("virtual_pid", std::to_string(PQbackendPID(tls.get())));
  const std::optional<size_t> plain_row = clients.FindRow("virtual_pid", std::to_string(PQbackendPID(plain.get())));
  ASSERT_TRUE(tls_row && plain_row) << clients.ToString();
  EXPECT_EQ(clients.Text(*tls_row, "tls").rfind("TLSv1.3 TLS_", 0), 0u) << clients.ToString();
  EXPECT_EQ(clients.Text(*plain_row, "tls"), "<NULL>");
  // A GSSENCRequest is still answered 'N'; libpq then goes on with TLS.
  PgConn gss = Connect(pgvalve->ClientConnString("postgres", "postgres", "gssencmode=prefer sslmode=require"));
  EXPECT_EQ(PQsslInUse(gss.get()), 1);
}

// Python's ssl module speaks first in TLS, as PostgreSQL 17's libpq does
// with sslnegotiation=direct, then sends a StartupMessage and prints the
// tag of the first message it gets back and, for an ErrorResponse, its
// text; or "handshake failed: REASON".
constexpr std::string_view kDirectTlsClient = R"py(
import socket, ssl, struct, sys
port, alpn = int(sys.argv[1]), sys.argv[2]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
if alpn:
    context.set_alpn_protocols([alpn])
try:
    tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20))
except (ssl.SSLError, OSError) as error:
    print("handshake failed:", error)
    sys.exit(0)
body = struct.pack("!i", 3 << 16) + b"user\0postgres\0database\0postgres\0\0"
tls.sendall(struct.pack("!i", len(body) + 4) + body)
header = b""
while len(header) < 5:
    chunk = tls.recv(5 - len(header))
    if not chunk:
        print("closed")
        sys.exit(0)
    header += chunk
tag = header[:1].decode()
length = struct.unpack("!i", header[1:5])[0]
payload = b""
while len(payload) < length - 4:
    payload += tls.recv(length - 4 - len(payload))
print("tag", tag, "alpn", tls.selected_alpn_protocol(), payload.decode(errors="replace") if tag == "E" else "")
)py";

std::string RunDirectTlsClient(uint16_t port, std::string_view alpn) {
  const CommandResult result =
      RunCommand({"python3", "-c", std::string(kDirectTlsClient), std::to_string(port), std::string(alpn)});
  EXPECT_TRUE(result.Succeeded()) << result.output;
  return result.output;
}

TEST_F(TlsTest, DirectTlsRequiresAlpnPostgresql) {
  auto pgvalve = StartPgvalve({.proxy_toml = pki_->ClientTls("require")});
  // 'R': the server's answer to the StartupMessage, relayed over TLS.
  const std::string with_alpn = RunDirectTlsClient(pgvalve->listen_port(), "postgresql");
  EXPECT_NE(with_alpn.find("tag R alpn postgresql"), std::string::npos) << with_alpn;

  const std::string without_alpn = RunDirectTlsClient(pgvalve->listen_port(), "");
  EXPECT_NE(without_alpn.find("tag E"), std::string::npos) << without_alpn;
  EXPECT_NE(without_alpn.find("08P01"), std::string::npos) << without_alpn;
  EXPECT_NE(without_alpn.find("without ALPN protocol \"postgresql\""), std::string::npos) << without_alpn;

  // Another protocol is refused in the handshake (no_application_protocol).
  const std::string other_alpn = RunDirectTlsClient(pgvalve->listen_port(), "http/1.1");
  EXPECT_NE(other_alpn.find("handshake failed"), std::string::npos) << other_alpn;

  // pgvalve serves on: a libpq client after the refusals.
  PgConn conn = Connect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=require"));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT 1"), "1");
}

TEST_F(TlsTest, VerifyCaRequiresAClientCertificate) {
  auto pgvalve = StartPgvalve({.proxy_toml = pki_->ClientTls(
                                   "verify-ca", "client_tls_ca_file = \"" + pki_->Path("proxy_ca.crt") + "\"\n")});
  const std::string without = ConnectError(pgvalve->ClientConnString("postgres", "postgres", "sslmode=require"));
  EXPECT_FALSE(without.empty());
  PgConn with = Connect(pgvalve->ClientConnString(
      "postgres", "postgres",
      "sslmode=require sslcert=" + pki_->Path("client.crt") + " sslkey=" + pki_->Path("client.key")));
  EXPECT_EQ(ScalarString(with.get(), "SELECT 1"), "1");
}

TEST_F(TlsTest, ReloadSwapsTheCertificateWhileOpenSessionsGoOn) {
  AdminPgvalveOptions options{.proxy_toml = pki_->ClientTls("require")};
  auto pgvalve = StartPgvalve(options);
  PgConn old_session = Connect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=require"));
  ASSERT_EQ(PeerCertificateSerial(old_session.get()), kFirstProxySerial);

  pki_->WriteProxyCertificate(kRenewedProxySerial);
  PgConn admin = Connect(pgvalve->AdminConnString());
  ExecOk(admin.get(), "RELOAD");
  PgConn new_session = Connect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=require"));
  EXPECT_EQ(PeerCertificateSerial(new_session.get()), kRenewedProxySerial);
  EXPECT_EQ(ScalarString(old_session.get(), "SELECT 'still here'"), "still here");
  EXPECT_EQ(PeerCertificateSerial(old_session.get()), kFirstProxySerial);

  // A key that is not one: RELOAD says so with F0000, and the certificate
  // in use stays.
  const std::string key = ReadWholeFile(pki_->Path("proxy.key"));
  WriteSecretFile(pki_->Path("proxy.key"), "not a key\n", 0600);
  const QueryOutcome broken = RunQuery(admin.get(), "RELOAD");
  EXPECT_EQ(broken.sqlstate, "F0000") << broken.Describe();
  EXPECT_NE(broken.message.find("cannot load private key"), std::string::npos) << broken.Describe();
  PgConn after_broken = Connect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=require"));
  EXPECT_EQ(PeerCertificateSerial(after_broken.get()), kRenewedProxySerial);
  WriteSecretFile(pki_->Path("proxy.key"), key, 0600);
  pki_->WriteProxyCertificate(kFirstProxySerial);
}

// Everything the peer sends until it closes, or nullopt if it has not
// closed by `deadline`.
std::optional<std::string> ReadUntilClosed(int fd, Deadline deadline) {
  std::string received;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[256];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return received;
    received.append(buffer, static_cast<size_t>(got));
  }
}

TEST_F(TlsTest, ClientStallingMidHandshakeIsDroppedAtTheStartupTimeout) {
  auto pgvalve = StartPgvalve({.proxy_toml = pki_->ClientTls("require") + "startup_timeout = \"1s\"\n"});
  const int stalled = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(stalled, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(pgvalve->listen_port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(stalled, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  // SSLRequest, then the first bytes of a TLS record and nothing more: the
  // handshake never completes.
  const std::string request("\0\0\0\x08\x04\xd2\x16\x2f\x16\x03\x01", 11);
  ASSERT_EQ(::send(stalled, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  PgConn other = Connect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=require"));
  EXPECT_EQ(ScalarString(other.get(), "SELECT 'unaffected'"), "unaffected");
  const std::optional<std::string> received = ReadUntilClosed(stalled, DeadlineAfter(20s));
  ::close(stalled);
  ASSERT_TRUE(received.has_value()) << "pgvalve kept a stalled handshake past startup_timeout";
  EXPECT_EQ(*received, "S");
  EXPECT_EQ(ScalarString(other.get(), "SELECT 'still unaffected'"), "still unaffected");
}

TEST_F(TlsTest, AdminConsoleOverTls) {
  auto pgvalve = StartPgvalve({.admin_toml = pki_->ClientTls("require")});
  PgConn admin = Connect(pgvalve->AdminConnString() + " sslmode=require");
  EXPECT_EQ(PQsslInUse(admin.get()), 1);
  ExecOk(admin.get(), "SHOW VERSION");
  const ConnectOutcome plain = TryConnect(pgvalve->AdminConnString() + " sslmode=disable");
  EXPECT_FALSE(plain.ok());
  EXPECT_EQ(plain.sqlstate, "28000") << plain.error;
}

TEST_F(TlsTest, ServerLegVerifyFullWithTheServersCa) {
  pg_->CreateDatabase("tlsdb");
  auto pgvalve = StartPgvalve({.extra_toml = TlsUpstream("verify-full", pki_->Path("server_ca.crt"))});
  PgConn conn = Connect(pgvalve->ClientConnString("tlsdb"));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");
  // The control connection speaks TLS too.
  PgConn admin = Connect(pgvalve->AdminConnString());
  ExecOk(admin.get(), "SHOW BACKENDS tlsdb");
  PgConn direct = Connect(pg_->SocketConnString());
  EXPECT_EQ(ScalarString(direct.get(),
                         "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                         "WHERE a.application_name = 'pgvalve control'"),
            "t");
}

TEST_F(TlsTest, ServerLegWithTheWrongCaFailsWith08006) {
  pg_->CreateDatabase("tlsdb_wrong_ca");
  auto pgvalve = StartPgvalve({.extra_toml = TlsUpstream("verify-full", pki_->Path("unrelated_ca.crt")) +
                                             RouteToml("tlsdb_wrong_ca", "tls")});
  const std::map<char, std::string> error = PlainStartupError(pgvalve->listen_port(), "tlsdb_wrong_ca");
  EXPECT_EQ(error.count('C') ? error.at('C') : "", "08006");
  const std::string message = error.count('M') ? error.at('M') : "";
  EXPECT_NE(message.find("upstream \"tls\""), std::string::npos) << message;
  EXPECT_NE(message.find("certificate verify failed"), std::string::npos) << message;
}

// libpq's allow: plain text first, TLS when the server refuses plain text.
TEST_F(TlsTest, ServerLegAllowTriesPlainTextFirstAndTlsWhenRefused) {
  pg_->CreateDatabase("tls_only");
  pg_->CreateDatabase("allow_plain");
  auto pgvalve = StartPgvalve({.extra_toml = TlsUpstream("allow", pki_->Path("server_ca.crt")) +
                                             RouteToml("tls_only", "tls") + RouteToml("allow_plain", "tls")});
  PgConn plain = Connect(pgvalve->ClientConnString("allow_plain"));
  EXPECT_EQ(ScalarString(plain.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "f");
  // The first attempt's refusal never reaches the client.
  PgConn refused_then_tls = Connect(pgvalve->ClientConnString("tls_only"));
  EXPECT_EQ(ScalarString(refused_then_tls.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");
  EXPECT_EQ(ScalarString(refused_then_tls.get(), "SELECT current_database()"), "tls_only");
}

// Access rules see what TLS proved: tls = "required" and "client_cert".
TEST_F(TlsTest, AccessRulesRequireTlsOrAClientCertificate) {
  const std::string rules =
      "[[proxy.rules]]\nname = \"certified\"\nusers = [\"app_user\"]\ntls = \"client_cert\"\naction = \"allow\"\n"
      "[[proxy.rules]]\nname = \"app needs a certificate\"\nusers = [\"app_user\"]\naction = \"deny\"\n"
      "[[proxy.rules]]\nname = \"tls only\"\ntls = \"required\"\naction = \"allow\"\n";
  auto pgvalve = StartPgvalve(
      {.proxy_toml =
           pki_->ClientTls("prefer", "client_tls_ca_file = \"" + pki_->Path("proxy_ca.crt") + "\"\n") + rules});
  const ConnectOutcome plain = TryConnect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=disable"));
  EXPECT_EQ(plain.sqlstate, "28000") << plain.error;
  EXPECT_NE(plain.error.find("no rule allows host \"127.0.0.1\""), std::string::npos) << plain.error;
  PgConn tls = Connect(pgvalve->ClientConnString("postgres", "postgres", "sslmode=require"));
  EXPECT_EQ(ScalarString(tls.get(), "SELECT 1"), "1");

  const ConnectOutcome no_certificate =
      TryConnect(pgvalve->ClientConnString("postgres", kAppUser, "sslmode=require"));
  EXPECT_EQ(no_certificate.sqlstate, "28000") << no_certificate.error;
  EXPECT_NE(no_certificate.error.find("rule \"app needs a certificate\""), std::string::npos)
      << no_certificate.error;
  PgConn certified = Connect(pgvalve->ClientConnString(
      "postgres", kAppUser,
      "sslmode=require sslcert=" + pki_->Path("client.crt") + " sslkey=" + pki_->Path("client.key")));
  EXPECT_EQ(ScalarString(certified.get(), "SELECT current_user"), kAppUser);
}

// SCRAM through pgvalve, which relays the exchange and cannot take part in
// it: PostgreSQL's pg_hba asks scram_user for SCRAM-SHA-256 over TCP.
std::string ScramConnInfo(std::string_view extra) {
  return "password=" + std::string(kScramPassword) + " " + std::string(extra);
}

TEST_F(TlsTest, ScramWithTlsOnTheClientLegOnly) {
  auto pgvalve = StartPgvalve({.proxy_toml = pki_->ClientTls("require")});
  PgConn prefer = Connect(
      pgvalve->ClientConnString("postgres", kScramUser, ScramConnInfo("sslmode=require channel_binding=prefer")));
  EXPECT_EQ(ScalarString(prefer.get(), "SELECT current_user"), kScramUser);
  // The server leg is plain: the server never offers channel binding.
  const std::string require = ConnectError(
      pgvalve->ClientConnString("postgres", kScramUser, ScramConnInfo("sslmode=require channel_binding=require")));
  EXPECT_NE(require.find("channel binding is required, but server did not offer an authentication method that "
                         "supports channel binding"),
            std::string::npos)
      << require;
}

TEST_F(TlsTest, ScramWithTlsOnTheServerLegOnly) {
  pg_->CreateDatabase("scram_server_tls");
  auto pgvalve = StartPgvalve({.extra_toml = TlsUpstream("verify-full", pki_->Path("server_ca.crt")) +
                                             RouteToml("scram_server_tls", "tls")});
  // The server offers SCRAM-SHA-256-PLUS over its TLS; pgvalve takes it out,
  // and a plain client could not have used it anyway.
  PgConn conn = Connect(pgvalve->ClientConnString("scram_server_tls", kScramUser,
                                                  ScramConnInfo("sslmode=disable channel_binding=prefer")));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");
}

TEST_F(TlsTest, ScramWithTlsOnBothLegsNeedsChannelBindingOffUnlessTheCertificateIsTheServers) {
  pg_->CreateDatabase("scram_both_tls");
  const std::string upstream =
      TlsUpstream("verify-full", pki_->Path("server_ca.crt")) + RouteToml("scram_both_tls", "tls");
  {
    auto pgvalve = StartPgvalve({.proxy_toml = pki_->ClientTls("require"), .extra_toml = upstream});
    // libpq's default: it says it supports channel binding ('y'), which the
    // server, over TLS, would take for a downgrade. pgvalve says why first.
    const ConnectOutcome prefer = TryConnect(pgvalve->ClientConnString(
        "scram_both_tls", kScramUser, ScramConnInfo("sslmode=require channel_binding=prefer")));
    EXPECT_FALSE(prefer.ok());
    EXPECT_EQ(prefer.sqlstate, "08P01") << prefer.error;
    EXPECT_NE(prefer.error.find("SCRAM channel binding negotiation error"), std::string::npos) << prefer.error;
    EXPECT_NE(prefer.error.find("channel_binding=disable"), std::string::npos) << prefer.error;
    PgConn disabled = Connect(pgvalve->ClientConnString("scram_both_tls", kScramUser,
                                                        ScramConnInfo("sslmode=require channel_binding=disable")));
    EXPECT_EQ(ScalarString(disabled.get(), "SELECT current_user"), kScramUser);
  }
  EXPECT_EQ(pgvalve_->StopAndCheck(), "");
  // pgvalve presenting PostgreSQL's own certificate: the binding holds.
  auto pgvalve = StartPgvalve({.proxy_toml = pki_->ClientTls("require", "", "server"), .extra_toml = upstream});
  PgConn bound = Connect(pgvalve->ClientConnString("scram_both_tls", kScramUser,
                                                   ScramConnInfo("sslmode=require channel_binding=require")));
  EXPECT_EQ(ScalarString(bound.get(), "SELECT current_user"), kScramUser);
}

TEST_F(TlsTest, TrustAndMd5ThroughTlsOnBothLegs) {
  pg_->CreateDatabase("md5_both_tls");
  auto pgvalve = StartPgvalve(
      {.proxy_toml = pki_->ClientTls("require"),
       .extra_toml = TlsUpstream("verify-full", pki_->Path("server_ca.crt")) + RouteToml("md5_both_tls", "tls")});
  PgConn md5 = Connect(
      pgvalve->ClientConnString("md5_both_tls", kMd5User, "sslmode=require password=" + std::string(kMd5Password)));
  EXPECT_EQ(
      ScalarString(md5.get(), "SELECT current_user || ' ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
      std::string(kMd5User) + " true");
  PgConn trust = Connect(pgvalve->ClientConnString("md5_both_tls", kSuperuser, "sslmode=require"));
  EXPECT_EQ(ScalarString(trust.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");
  const ConnectOutcome wrong =
      TryConnect(pgvalve->ClientConnString("md5_both_tls", kMd5User, "sslmode=require password=wrong"));
  EXPECT_EQ(wrong.sqlstate, "28P01") << wrong.error;
}

// A client that picks SCRAM-SHA-256-PLUS though pgvalve did not offer it:
// SSLRequest, TLS, a StartupMessage for scram_user, then the mechanisms
// offered are printed and a SASLInitialResponse naming PLUS is sent; what
// comes back is printed.
constexpr std::string_view kPlusAnywayClient = R"py(
import socket, ssl, struct, sys
port, database = int(sys.argv[1]), sys.argv[2]
raw = socket.create_connection(("127.0.0.1", port), timeout=20)
raw.sendall(struct.pack("!ii", 8, 80877103))
assert raw.recv(1) == b"S"
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
tls = context.wrap_socket(raw)
def read_message():
    header = b""
    while len(header) < 5:
        header += tls.recv(5 - len(header))
    length = struct.unpack("!i", header[1:5])[0]
    body = b""
    while len(body) < length - 4:
        body += tls.recv(length - 4 - len(body))
    return header[:1].decode(), body
body = struct.pack("!i", 3 << 16) + b"user\0scram_user\0database\0" + database.encode() + b"\0\0"
tls.sendall(struct.pack("!i", len(body) + 4) + body)
tag, body = read_message()
print("offered", tag, [m.decode() for m in body[4:].split(b"\0") if m])
first = b"p=tls-server-end-point,,n=,r=abcdefghijklmnop"
payload = b"SCRAM-SHA-256-PLUS\0" + struct.pack("!i", len(first)) + first
tls.sendall(b"p" + struct.pack("!i", len(payload) + 4) + payload)
tag, body = read_message()
print("answer", tag, body.decode(errors="replace"))
)py";

TEST_F(TlsTest, AClientPickingPlusAnywayIsRefused) {
  pg_->CreateDatabase("scram_plus_anyway");
  auto pgvalve = StartPgvalve({.proxy_toml = pki_->ClientTls("require"),
                               .extra_toml = TlsUpstream("verify-full", pki_->Path("server_ca.crt")) +
                                             RouteToml("scram_plus_anyway", "tls")});
  const CommandResult result = RunCommand({"python3", "-c", std::string(kPlusAnywayClient),
                                           std::to_string(pgvalve->listen_port()), "scram_plus_anyway"});
  ASSERT_TRUE(result.Succeeded()) << result.output;
  EXPECT_NE(result.output.find("offered R ['SCRAM-SHA-256']"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("answer E"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("08P01"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("client selected an invalid SASL authentication mechanism"), std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace pgvalve::test
