// The fleet's etcd client against a real etcd 3.4: every call, an endpoint
// that is down skipped for the next, and what a caller is told when no
// endpoint answers or one accepts and never answers; with etcd's
// authentication on; over TLS, with etcd asking for a client certificate.

#include "fleet/etcd_client.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>
#include <vector>
#include <memory>
#include <string>

#include "tests/support/etcd_server.h"
#include "tests/support/free_port.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_certificates.h"

namespace pgvalve::test {
namespace {

namespace asio = proxy::asio;
using fleet::EtcdClient;
using fleet::EtcdEndpoint;
using std::chrono::milliseconds;

// Runs `call` to its end on `io`, which it was made for.
template <typename T>
T RunToEnd(asio::io_context& io, proxy::Awaitable<T> call) {
  std::promise<T> result;
  asio::co_spawn(io, std::move(call), [&](std::exception_ptr failure, T value) {
    if (failure) std::rethrow_exception(failure);
    result.set_value(std::move(value));
  });
  io.run();
  return result.get_future().get();
}

EtcdEndpoint Local(uint16_t port) { return EtcdEndpoint{.host = "127.0.0.1", .port = port}; }

// One put of `key` with a fresh client over `access`: what etcd said.
absl::Status PutOnce(fleet::EtcdAccess access, std::string key) {
  asio::io_context io;
  auto put = [](asio::any_io_executor executor, fleet::EtcdAccess access,
                std::string key) -> proxy::Awaitable<absl::Status> {
    EtcdClient etcd(executor, std::move(access), milliseconds(5'000));
    absl::StatusOr<fleet::ResponseHeader> answer = co_await etcd.Put(std::move(key), "value");
    co_return answer.status();
  };
  return RunToEnd(io, put(io.get_executor(), std::move(access), std::move(key)));
}

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { etcd_ = std::make_unique<EtcdServer>(); }
  static void TearDownTestSuite() { etcd_.reset(); }

  static std::vector<EtcdEndpoint> Endpoints() { return {Local(etcd_->client_port())}; }

  static std::unique_ptr<EtcdServer> etcd_;
};

std::unique_ptr<EtcdServer> EtcdClientTest::etcd_;

TEST_F(EtcdClientTest, EveryCallReachesEtcd) {
  struct Seen {
    absl::Status status;
    std::string value;
    size_t under_prefix = 0;
    bool taken = false;
    bool taken_again = true;
    int64_t ttl = 0;
    bool gone = false;
  };
  asio::io_context io;
  const Seen seen = RunToEnd(io, [](asio::any_io_executor executor) -> proxy::Awaitable<Seen> {
    EtcdClient etcd(executor, Endpoints(), milliseconds(5'000));
    Seen seen;
    auto fail = [&seen](const absl::Status& status) {
      seen.status = status;
      return seen;
    };
    if (auto put = co_await etcd.Put("/c1/a", "one"); !put.ok()) co_return fail(put.status());
    if (auto put = co_await etcd.Put("/c1/b", "two"); !put.ok()) co_return fail(put.status());
    auto one = co_await etcd.Get("/c1/a");
    if (!one.ok()) co_return fail(one.status());
    seen.value = one->kvs.empty() ? "<none>" : one->kvs[0].value;
    auto both = co_await etcd.GetPrefix("/c1/");
    if (!both.ok()) co_return fail(both.status());
    seen.under_prefix = both->kvs.size();

    fleet::Txn take;
    take.compare.push_back({.key = "/c1/lock", .target = fleet::Compare::Target::kCreateRevision, .number = 0});
    take.success.push_back({.kind = fleet::TxnOperation::Kind::kPut, .key = "/c1/lock", .value = "me"});
    auto first = co_await etcd.Commit(take);
    if (!first.ok()) co_return fail(first.status());
    seen.taken = first->succeeded;
    auto second = co_await etcd.Commit(take);
    if (!second.ok()) co_return fail(second.status());
    seen.taken_again = second->succeeded;

    auto lease = co_await etcd.GrantLease(20);
    if (!lease.ok()) co_return fail(lease.status());
    if (auto put = co_await etcd.Put("/c1/leased", "x", lease->id); !put.ok()) co_return fail(put.status());
    auto ttl = co_await etcd.KeepAlive(lease->id);
    if (!ttl.ok()) co_return fail(ttl.status());
    seen.ttl = *ttl;
    if (auto revoked = co_await etcd.RevokeLease(lease->id); !revoked.ok()) co_return fail(revoked.status());
    if (auto deleted = co_await etcd.Delete("/c1/a"); !deleted.ok()) co_return fail(deleted.status());
    auto after = co_await etcd.GetPrefix("/c1/");
    if (!after.ok()) co_return fail(after.status());
    // Left: b and the lock; a was deleted, the leased key went with its lease.
    seen.gone = after->kvs.size() == 2 && after->kvs[0].key == "/c1/b" && after->kvs[1].key == "/c1/lock";
    co_return seen;
  }(io.get_executor()));
  ASSERT_TRUE(seen.status.ok()) << seen.status;
  EXPECT_EQ(seen.value, "one");
  EXPECT_EQ(seen.under_prefix, 2u);
  EXPECT_TRUE(seen.taken);
  EXPECT_FALSE(seen.taken_again);
  EXPECT_EQ(seen.ttl, 20);
  EXPECT_TRUE(seen.gone);
}

proxy::Awaitable<absl::StatusOr<fleet::RangeResult>> GetVia(asio::any_io_executor executor,
                                                            std::vector<EtcdEndpoint> endpoints,
                                                            milliseconds timeout) {
  EtcdClient etcd(executor, std::move(endpoints), timeout);
  co_return co_await etcd.Get("/c2/key");
}

TEST_F(EtcdClientTest, AnEndpointThatIsDownIsSkipped) {
  const uint16_t dead = FreeTcpPort();
  asio::io_context io;
  const absl::StatusOr<fleet::RangeResult> got =
      RunToEnd(io, GetVia(io.get_executor(), {Local(dead), Local(etcd_->client_port())}, milliseconds(5'000)));
  EXPECT_TRUE(got.ok()) << got.status();
}

TEST_F(EtcdClientTest, NoEndpointAnsweringIsUnavailableNamingEach) {
  const uint16_t dead = FreeTcpPort();
  asio::io_context io;
  const absl::StatusOr<fleet::RangeResult> got =
      RunToEnd(io, GetVia(io.get_executor(), {Local(dead)}, milliseconds(5'000)));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  const std::string message(got.status().message());
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(dead)), std::string::npos) << message;
  EXPECT_NE(message.find("cannot connect"), std::string::npos) << message;
}

// A server that accepts and never answers (a hung etcd, a black hole) costs
// the timeout, not forever.
TEST_F(EtcdClientTest, AnEndpointThatNeverAnswersTimesOut) {
  asio::io_context io;
  // Connections wait in the kernel's backlog; nobody accepts, reads or writes.
  proxy::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = silent.local_endpoint().port();
  const absl::StatusOr<fleet::RangeResult> got =
      RunToEnd(io, GetVia(io.get_executor(), {Local(port)}, milliseconds(300)));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(got.status().message()).find("no answer within 300 ms"), std::string::npos)
      << got.status();
}

// What a watch saw, for the assertions.
struct Watched {
  absl::Status ended;
  bool created = false;
  std::vector<std::string> events;  // "PUT key=value", "DELETE key"
  int64_t last_revision = 0;
};

void Record(Watched& watched, const fleet::WatchMessage& message) {
  watched.created = watched.created || message.created;
  for (const fleet::WatchEvent& event : message.events) {
    watched.events.push_back(event.type == fleet::WatchEvent::Type::kPut
                                 ? "PUT " + event.kv.key + "=" + event.kv.value
                                 : "DELETE " + event.kv.key);
    watched.last_revision = event.kv.mod_revision;
  }
}

// Changes under the prefix arrive as they are committed, in order, and no
// others; Stop ends the watch.
proxy::Awaitable<Watched> WatchWhileChanging(asio::any_io_executor executor, fleet::EtcdAccess access) {
  fleet::EtcdWatch watch(executor, access, milliseconds(5'000));
  EtcdClient etcd(executor, access, milliseconds(5'000));
  Watched watched;
  // Each change is made once the watch saw the one before, so the order
  // seen is the order made; the watch stops itself after the last.
  auto step = std::make_shared<int>(0);
  auto change = [&etcd, &watch, &watched, step]() -> proxy::Awaitable<void> {
    switch ((*step)++) {
      case 0: (void)co_await etcd.Put("/w1/a", "one"); break;
      case 1: (void)co_await etcd.Put("/elsewhere", "not watched"); (void)co_await etcd.Put("/w1/b", "two"); break;
      case 2: (void)co_await etcd.Delete("/w1/a"); break;
      default: watch.Stop(); break;
    }
  };
  watched.ended = co_await watch.Run("/w1/", 0, [&](const fleet::WatchMessage& message) {
    Record(watched, message);
    if (message.created || !message.events.empty()) asio::co_spawn(executor, change(), asio::detached);
  });
  co_return watched;
}

TEST_F(EtcdClientTest, AWatchSeesEachChangeUnderItsPrefixAsItIsMade) {
  asio::io_context io;
  const Watched watched = RunToEnd(io, WatchWhileChanging(io.get_executor(), {.endpoints = Endpoints()}));
  EXPECT_TRUE(watched.ended.ok()) << watched.ended;
  EXPECT_TRUE(watched.created);
  EXPECT_EQ(watched.events, (std::vector<std::string>{"PUT /w1/a=one", "PUT /w1/b=two", "DELETE /w1/a"}));
}

// From a revision in the past: what happened since, then the rest.
proxy::Awaitable<Watched> WatchFrom(asio::any_io_executor executor, std::vector<EtcdEndpoint> endpoints,
                                    int64_t revision, size_t events_wanted) {
  fleet::EtcdWatch watch(executor, endpoints, milliseconds(5'000));
  Watched watched;
  watched.ended = co_await watch.Run("/w2/", revision, [&](const fleet::WatchMessage& message) {
    Record(watched, message);
    if (watched.events.size() >= events_wanted) watch.Stop();
  });
  co_return watched;
}

TEST_F(EtcdClientTest, AWatchFromARevisionReplaysWhatCameSince) {
  asio::io_context io;
  const absl::StatusOr<fleet::ResponseHeader> first = RunToEnd(io, [](asio::any_io_executor executor) ->
      proxy::Awaitable<absl::StatusOr<fleet::ResponseHeader>> {
        EtcdClient etcd(executor, Endpoints(), milliseconds(5'000));
        auto first = co_await etcd.Put("/w2/x", "1");
        (void)co_await etcd.Put("/w2/x", "2");
        co_return first;
      }(io.get_executor()));
  ASSERT_TRUE(first.ok()) << first.status();
  io.restart();
  const Watched watched = RunToEnd(io, WatchFrom(io.get_executor(), Endpoints(), first->revision, 2));
  EXPECT_TRUE(watched.ended.ok()) << watched.ended;
  EXPECT_EQ(watched.events, (std::vector<std::string>{"PUT /w2/x=1", "PUT /w2/x=2"}));
}

// Last: it stops etcd. A watch whose etcd goes away ends with Unavailable,
// so the fleet knows to stop trusting what it applied is current.
TEST_F(EtcdClientTest, AWatchEndsWhenEtcdGoesAway) {
  asio::io_context io;
  std::thread stopper;
  const absl::Status ended = RunToEnd(io, [](asio::any_io_executor executor, std::thread& stopper)
                                              -> proxy::Awaitable<absl::Status> {
    fleet::EtcdWatch watch(executor, Endpoints(), milliseconds(5'000));
    co_return co_await watch.Run("/w3/", 0, [&stopper](const fleet::WatchMessage& message) {
      // Stopped from another thread: StopProcess waits for the exit.
      if (message.created) stopper = std::thread([] { etcd_->Stop(); });
    });
  }(io.get_executor(), stopper));
  if (stopper.joinable()) stopper.join();
  EXPECT_EQ(ended.code(), absl::StatusCode::kUnavailable) << ended;
  etcd_->Start();
}

// etcd with authentication on: a user's name and password get a token that
// every call and the watch carry, and a token etcd forgot is renewed.
class EtcdAuthTest : public ::testing::Test {
 protected:
  static constexpr const char* kPassword = "etcd-root-pw";
  static void SetUpTestSuite() {
    etcd_ = std::make_unique<EtcdServer>();
    etcd_->EnableAuthentication(kPassword);
  }
  static void TearDownTestSuite() { etcd_.reset(); }

  static fleet::EtcdAccess Access(std::string user, std::string password) {
    return {.endpoints = {Local(etcd_->client_port())}, .user = std::move(user), .password = std::move(password)};
  }
  static absl::Status PutWith(fleet::EtcdAccess access) { return PutOnce(std::move(access), "/auth/key"); }

  static std::unique_ptr<EtcdServer> etcd_;
};

std::unique_ptr<EtcdServer> EtcdAuthTest::etcd_;

TEST_F(EtcdAuthTest, WithAUsersPasswordEveryCallAndTheWatchWork) {
  asio::io_context io;
  const Watched watched = RunToEnd(io, WatchWhileChanging(io.get_executor(), Access("root", kPassword)));
  EXPECT_TRUE(watched.ended.ok()) << watched.ended;
  EXPECT_EQ(watched.events, (std::vector<std::string>{"PUT /w1/a=one", "PUT /w1/b=two", "DELETE /w1/a"}));
}

TEST_F(EtcdAuthTest, AWrongPasswordOrNoUserIsRefused) {
  const absl::Status wrong = PutWith(Access("root", "not-the-password"));
  EXPECT_EQ(wrong.code(), absl::StatusCode::kPermissionDenied) << wrong;
  EXPECT_NE(std::string(wrong.message()).find("etcd refused user \"root\""), std::string::npos) << wrong;
  const absl::Status anonymous = PutWith(Access("", ""));
  EXPECT_FALSE(anonymous.ok());
  EXPECT_NE(std::string(anonymous.message()).find("etcd: "), std::string::npos) << anonymous;
}

TEST_F(EtcdAuthTest, ATokenEtcdForgotAcrossARestartIsRenewed) {
  asio::io_context io;
  const absl::Status second = RunToEnd(io, [](asio::any_io_executor executor) -> proxy::Awaitable<absl::Status> {
    EtcdClient etcd(executor, Access("root", kPassword), milliseconds(5'000));
    if (auto first = co_await etcd.Put("/auth/a", "1"); !first.ok()) co_return first.status();
    // On this (the main) thread, which outlives etcd: its parent-death
    // signal follows the thread that started it. Nothing else runs on the
    // context meanwhile.
    etcd_->Stop();
    etcd_->Start();
    absl::StatusOr<fleet::ResponseHeader> again = co_await etcd.Put("/auth/a", "2");
    co_return again.status();
  }(io.get_executor()));
  EXPECT_TRUE(second.ok()) << second;
}

// etcd over TLS that asks every client for a certificate of its CA: the
// access is built as [fleet] describes it, so the files are read as
// pgvalve reads them. etcd's certificate names etcd.test and 127.0.0.1.
class EtcdTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = std::make_unique<TestCa>("etcd test CA");
    files_ = std::make_unique<TempDir>("pgvalve-etcd-tls");
    const TestCertificate server = ca_->Issue({.common_name = "etcd", .dns_names = {"etcd.test"},
                                               .ip_addresses = {"127.0.0.1"}});
    const TestCertificate client = ca_->Issue({.common_name = "pgvalve"});
    WriteSecretFile(File("ca.crt"), ca_->certificate_pem(), 0644);
    WriteSecretFile(File("client.crt"), client.certificate_pem, 0644);
    WriteSecretFile(File("client.key"), client.key_pem, 0600);
    WriteSecretFile(File("other-ca.crt"), TestCa("another CA").certificate_pem(), 0644);
    etcd_ = std::make_unique<EtcdServer>(EtcdServer::Tls{.certificate_pem = server.certificate_pem,
                                                         .key_pem = server.key_pem,
                                                         .client_ca_pem = ca_->certificate_pem()});
  }
  static void TearDownTestSuite() {
    etcd_.reset();
    files_.reset();
    ca_.reset();
  }

  static std::string File(const std::string& name) { return files_->path() + "/" + name; }
  // What [fleet] would say: etcd's endpoint, its CA and pgvalve's
  // certificate.
  static config::FleetSettings Settings() {
    config::FleetSettings settings;
    settings.etcd_endpoints = {etcd_->endpoint()};
    settings.etcd_ca_file = File("ca.crt");
    settings.etcd_cert_file = File("client.crt");
    settings.etcd_key_file = File("client.key");
    return settings;
  }
  static absl::Status PutWith(const config::FleetSettings& settings) {
    absl::StatusOr<fleet::EtcdAccess> access = fleet::EtcdAccessFrom(settings);
    if (!access.ok()) return access.status();
    return PutOnce(*std::move(access), "/tls/key");
  }

  static std::unique_ptr<TestCa> ca_;
  static std::unique_ptr<TempDir> files_;
  static std::unique_ptr<EtcdServer> etcd_;
};

std::unique_ptr<TestCa> EtcdTlsTest::ca_;
std::unique_ptr<TempDir> EtcdTlsTest::files_;
std::unique_ptr<EtcdServer> EtcdTlsTest::etcd_;

TEST_F(EtcdTlsTest, OverHttpsEveryCallAndTheWatchWork) {
  absl::StatusOr<fleet::EtcdAccess> access = fleet::EtcdAccessFrom(Settings());
  ASSERT_TRUE(access.ok()) << access.status();
  ASSERT_TRUE(access->endpoints.front().tls);
  asio::io_context io;
  const Watched watched = RunToEnd(io, WatchWhileChanging(io.get_executor(), *access));
  EXPECT_TRUE(watched.ended.ok()) << watched.ended;
  EXPECT_EQ(watched.events, (std::vector<std::string>{"PUT /w1/a=one", "PUT /w1/b=two", "DELETE /w1/a"}));
}

TEST_F(EtcdTlsTest, ACertificateOfAnotherCaIsRefused) {
  config::FleetSettings settings = Settings();
  settings.etcd_ca_file = File("other-ca.crt");
  const absl::Status refused = PutWith(settings);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_NE(std::string(refused.message()).find("etcd's certificate was refused: unable to get local issuer"),
            std::string::npos)
      << refused;
}

TEST_F(EtcdTlsTest, ACertificateThatDoesNotNameTheEndpointsHostIsRefused) {
  config::FleetSettings settings = Settings();
  // The same etcd, by a name its certificate does not carry.
  settings.etcd_endpoints = {"https://localhost:" + std::to_string(etcd_->client_port())};
  const absl::Status refused = PutWith(settings);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_NE(std::string(refused.message()).find("etcd's certificate was refused: hostname mismatch"),
            std::string::npos)
      << refused;
}

TEST_F(EtcdTlsTest, WithoutAClientCertificateEtcdRefuses) {
  config::FleetSettings settings = Settings();
  settings.etcd_cert_file.reset();
  settings.etcd_key_file.reset();
  const absl::Status refused = PutWith(settings);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  // etcd's alert, as OpenSSL names it ("... alert bad certificate").
  EXPECT_NE(std::string(refused.message()).find("certificate"), std::string::npos) << refused;
  EXPECT_TRUE(PutWith(Settings()).ok());
}

TEST_F(EtcdTlsTest, AFileThatCannotBeReadIsReportedBeforeAnyCall) {
  config::FleetSettings settings = Settings();
  settings.etcd_ca_file = File("missing.crt");
  absl::StatusOr<fleet::EtcdAccess> access = fleet::EtcdAccessFrom(settings);
  ASSERT_FALSE(access.ok());
  EXPECT_EQ(access.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(access.status().message()).find("cannot load CA file \"" + File("missing.crt") + "\""),
            std::string::npos)
      << access.status();
}

}  // namespace
}  // namespace pgvalve::test
