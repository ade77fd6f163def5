// Clients and operators misbehaving in front of pgvalve, each test with
// its own PostgreSQL and pgvalve: a client that vanishes in the middle of
// a COPY FROM or of a large result, a client that reads nothing of a large
// result, a SIGHUP with a broken config file, and more clients than
// max_client_connections. They share one PostgreSQL, which none of these
// faults harm.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/e2e/fault_test_support.h"
#include "tests/e2e/raw_connection.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

// ASan's quarantine keeps freed memory resident, so pgvalve's RSS says
// nothing about its buffers in such a build: the RSS comparisons are left
// out there (the rest of each test still runs).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssIsMeaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kRssIsMeaningful = false;
#else
constexpr bool kRssIsMeaningful = true;
#endif
#else
constexpr bool kRssIsMeaningful = true;
#endif

// Generous next to what pgvalve holds per session (two 32 KiB relay
// buffers; a few hundred KiB of growth were measured): a relay that
// buffered the results below would blow it by far.
constexpr long kRssSlackKib = 16 * 1024;

RawConnection StartRaw(uint16_t port, const std::string& application_name) {
  RawConnection raw = RawConnection::ConnectTcp(port);
  raw.Start({{"user", std::string(kSuperuser)},
             {"database", "postgres"},
             {"application_name", application_name}},
            DeadlineAfter(30s));
  return raw;
}

// Reads until the connection ends, which may be inside a message when the
// session was ended at once; false if it is still open at the deadline.
bool ReadUntilClosed(RawConnection& raw, Deadline deadline) {
  try {
    while (raw.ReadMessage(deadline)) {
    }
    return true;
  } catch (const std::runtime_error& error) {
    return std::string_view(error.what()).find("timed out") == std::string_view::npos;
  }
}

// A first session through pgvalve, so that what any session allocates once
// (worker state, coroutine frame caches) is in the baseline.
long WarmedUpRss(FaultPgvalve& pgvalve) {
  PgConn conn = Connect(pgvalve.ClientConnString());
  ExecOk(conn.get(), "SELECT repeat('x', 1024) FROM generate_series(1, 1000)");
  return ResidentKib(pgvalve.process().pid());
}

class ClientFaultTest : public FaultTest {};

TEST_F(ClientFaultTest, ClientVanishingMidCopyFromCommitsNothing) {
  StartOnSharedServer();
  pg().RunSql("CREATE TABLE fault_copy (id int, payload text)");
  constexpr int kRows = 20'000;
  {
    RawConnection raw = StartRaw(pgvalve().port(), "copy_vanish");
    raw.Send(QueryMessage("COPY fault_copy FROM STDIN"));
    std::optional<BackendMessage> response = raw.ReadMessage(DeadlineAfter(30s));
    ASSERT_TRUE(response.has_value());
    ASSERT_EQ(response->tag, 'G') << "no CopyInResponse";

    std::string chunk;
    for (int id = 1; id <= kRows; ++id) {
      chunk += std::to_string(id) + "\t" + std::string(100, 'p') + "\n";
      if (chunk.size() >= 64 * 1024 || id == kRows) {
        raw.Send(FrontendMessage('d', chunk));
        chunk.clear();
      }
    }
    // The server has read and inserted rows of this COPY...
    ASSERT_TRUE(PollUntil(
        [&] {
          return ClientBackends(pg(),
                                "application_name = 'copy_vanish' AND pid IN (SELECT pid FROM "
                                "pg_stat_progress_copy WHERE tuples_processed >= " +
                                    std::to_string(kRows / 2) + ")") == 1;
        },
        DeadlineAfter(30s)))
        << "the server never got the COPY data";
    // ...and then gets half a CopyData message, and the client is gone:
    // no CopyDone, no Terminate.
    raw.Send(std::string(FrontendMessage('d', "1\tcut short\n")).substr(0, 9));
  }

  EXPECT_TRUE(PollUntil([&] { return BackendsOf(pg(), "copy_vanish") == 0; }, DeadlineAfter(30s)))
      << "the backend outlived its client";
  EXPECT_EQ(pg().QueryScalar("SELECT count(*) FROM fault_copy"), "0")
      << "rows of an unfinished COPY were committed";
  PgConn admin = pgvalve().ConnectAdmin();
  EXPECT_TRUE(PollUntil([&] { return RegisteredSessions(admin.get()) == 0; }, DeadlineAfter(30s)));
  PgConn next = ConnectClient("next");
  ExecOk(next.get(), "INSERT INTO fault_copy VALUES (1, 'after')");
  EXPECT_EQ(ScalarString(next.get(), "SELECT count(*) FROM fault_copy"), "1");
  ExecOk(next.get(), "DROP TABLE fault_copy");
}

TEST_F(ClientFaultTest, ClientVanishingMidLargeResultReleasesBackendAndMemory) {
  StartOnSharedServer();
  const long rss_before = WarmedUpRss(pgvalve());
  constexpr size_t kReadBeforeVanishing = 16 * 1024 * 1024;
  {
    RawConnection raw = StartRaw(pgvalve().port(), "result_vanish");
    // About a gigabyte of 1 KiB rows.
    raw.Send(QueryMessage("SELECT repeat('x', 1024) FROM generate_series(1, 1000000)"));
    size_t received = 0;
    while (received < kReadBeforeVanishing) {
      std::optional<BackendMessage> message = raw.ReadMessage(DeadlineAfter(30s));
      ASSERT_TRUE(message.has_value()) << "the connection closed after " << received << " bytes";
      ASSERT_TRUE(message->tag == 'T' || message->tag == 'D') << "unexpected " << message->tag;
      received += message->body.size() + 5;
    }
    ASSERT_EQ(BackendsOf(pg(), "result_vanish"), 1);
  }  // closed with most of the result still to come

  EXPECT_TRUE(
      PollUntil([&] { return BackendsOf(pg(), "result_vanish") == 0; }, DeadlineAfter(30s)))
      << "the backend outlived its client";
  PgConn admin = pgvalve().ConnectAdmin();
  EXPECT_TRUE(PollUntil([&] { return RegisteredSessions(admin.get()) == 0; }, DeadlineAfter(30s)));
  if (kRssIsMeaningful) {
    long rss_after = 0;
    EXPECT_TRUE(PollUntil(
        [&] {
          rss_after = ResidentKib(pgvalve().process().pid());
          return rss_after > 0 && rss_after - rss_before < kRssSlackKib;
        },
        DeadlineAfter(10s)))
        << "pgvalve grew from " << rss_before << " KiB to " << rss_after << " KiB";
  }
}

TEST_F(ClientFaultTest, SlowReaderHoldsTheServerBackWithBoundedMemory) {
  StartOnSharedServer();
  const long rss_before = WarmedUpRss(pgvalve());
  std::optional<RawConnection> raw = StartRaw(pgvalve().port(), "slow_reader");
  // 200 MB the client does not read.
  raw->Send(QueryMessage("SELECT repeat('x', 1024) FROM generate_series(1, 204800)"));
  const std::string blocked =
      "application_name = 'slow_reader' AND state = 'active' AND wait_event = 'ClientWrite'";
  ASSERT_TRUE(PollUntil([&] { return ClientBackends(pg(), blocked) == 1; }, DeadlineAfter(30s)))
      << "the backend never had to wait for pgvalve to take its rows";

  // Watched for a second: a relay that read on regardless would let the
  // backend finish and would grow by what it holds.
  PgConn admin = pgvalve().ConnectAdmin();
  const auto window_end = steady_clock::now() + 1s;
  long rss_peak = 0;
  int samples = 0;
  PollUntil(
      [&] {
        ++samples;
        EXPECT_EQ(ClientBackends(pg(), blocked), 1) << "sample " << samples;
        rss_peak = std::max(rss_peak, ResidentKib(pgvalve().process().pid()));
        return steady_clock::now() >= window_end;
      },
      DeadlineAfter(30s));
  // What reached the client's socket is bounded by the kernel's buffers.
  const std::string sent = SessionColumn(admin.get(), "slow_reader", "bytes_out");
  ASSERT_FALSE(sent.empty()) << "no session of the slow reader in SHOW CLIENTS";
  EXPECT_LT(std::stoll(sent), 32LL * 1024 * 1024);
  if (kRssIsMeaningful) {
    EXPECT_LT(rss_peak - rss_before, kRssSlackKib)
        << "pgvalve grew from " << rss_before << " KiB to " << rss_peak << " KiB";
  }

  // Others are served meanwhile.
  PgConn other = ConnectClient("other");
  EXPECT_EQ(ScalarString(other.get(), "SELECT 'other'"), "other");

  // An operator's KILL ends the session although pgvalve holds bytes for
  // the client that it cannot deliver.
  const std::string id = SessionColumn(admin.get(), "slow_reader", "id");
  ExecOk(admin.get(), "KILL " + id);
  EXPECT_TRUE(PollUntil([&] { return SessionColumn(admin.get(), "slow_reader", "id").empty(); },
                        DeadlineAfter(30s)))
      << "KILL left the session in the registry";
  EXPECT_TRUE(PollUntil([&] { return BackendsOf(pg(), "slow_reader") == 0; }, DeadlineAfter(30s)))
      << "the backend outlived its session";
  // The client gets what was already on its way, then the end.
  EXPECT_TRUE(ReadUntilClosed(*raw, DeadlineAfter(60s))) << "the client's connection stayed open";
}

TEST_F(ClientFaultTest, ReloadOfABrokenFileKeepsTheConfigurationInForce) {
  const FaultPgvalveOptions options{.max_client_connections = 50};
  StartOnSharedServer(options);
  PgConn admin = pgvalve().ConnectAdmin();
  auto show_config = [&] {
    PgResult result = ExecOk(admin.get(), "SHOW CONFIG");
    std::string text;
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      text += std::string(PQgetvalue(result.get(), row, 0)) + "=" + PQgetvalue(result.get(), row, 1) + "\n";
    }
    return text;
  };
  const std::string config_before = show_config();
  ASSERT_NE(config_before.find("proxy.max_client_connections=50\n"), std::string::npos)
      << config_before;
  PgConn running = ConnectClient("running");

  const std::string valid = pgvalve().ConfigText(options);
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string text = valid;
    const size_t at = text.find(from);
    if (at == std::string::npos) throw std::logic_error("no " + std::string(from) + " in the config");
    return text.replace(at, from.size(), to);
  };
  struct Broken {
    const char* what;
    std::optional<std::string> text;  // nothing: the file is removed
  };
  const Broken cases[] = {
      {"not TOML", valid.substr(0, valid.size() / 2) + "\n[proxy\n"},
      {"a misspelt key", replaced("max_client_connections", "max_client_conections")},
      {"a route to no upstream", replaced("upstream = \"blue\"", "upstream = \"green\"")},
      {"a removed file", std::nullopt},
  };
  const std::string failure_line = "reload failed, keeping the current configuration";
  for (const Broken& broken : cases) {
    SCOPED_TRACE(broken.what);
    const size_t failures = CountOccurrences(pgvalve().process().Log(), failure_line);
    if (broken.text) {
      pgvalve().WriteConfigText(*broken.text);
    } else {
      ASSERT_EQ(std::remove(pgvalve().config_path().c_str()), 0);
    }
    pgvalve().process().Signal(SIGHUP);
    ASSERT_TRUE(PollUntil(
        [&] { return CountOccurrences(pgvalve().process().Log(), failure_line) == failures + 1; },
        DeadlineAfter(30s)))
        << "no failed reload logged:\n" << pgvalve().process().LogTail();
    // The line says what is wrong with which file.
    const std::string log = pgvalve().process().Log();
    const std::string line = log.substr(log.rfind(failure_line));
    EXPECT_NE(line.substr(0, line.find('\n')).find(pgvalve().config_path()), std::string::npos)
        << line.substr(0, line.find('\n'));
    EXPECT_EQ(show_config(), config_before);
    EXPECT_EQ(ScalarString(running.get(), "SELECT 'running'"), "running");
    PgConn newcomer = ConnectClient("newcomer");
    EXPECT_EQ(ScalarString(newcomer.get(), "SELECT 'new'"), "new");
  }

  // A good file after the broken ones is taken: the reload path works.
  const std::string success_line = "configuration reloaded";
  ASSERT_EQ(CountOccurrences(pgvalve().process().Log(), success_line), 0u);
  pgvalve().WriteConfig({.max_client_connections = 51});
  pgvalve().process().Signal(SIGHUP);
  ASSERT_TRUE(PollUntil(
      [&] { return CountOccurrences(pgvalve().process().Log(), success_line) == 1; },
      DeadlineAfter(30s)))
      << pgvalve().process().LogTail();
  EXPECT_NE(show_config().find("proxy.max_client_connections=51\n"), std::string::npos);
  EXPECT_EQ(ScalarString(running.get(), "SELECT 'running'"), "running");
}

TEST_F(ClientFaultTest, FloodBeyondMaxClientConnectionsIsRefusedWith53300) {
  constexpr int kLimit = 4;
  StartOnSharedServer({.max_client_connections = kLimit});
  std::vector<PgConn> admitted;
  for (int i = 0; i < kLimit; ++i) admitted.push_back(ConnectClient("admitted"));

  std::vector<std::future<ConnectOutcome>> flood;
  for (int i = 0; i < 16; ++i) {
    flood.push_back(std::async(std::launch::async, [this] {
      return TryConnect(pgvalve().ClientConnString("postgres", "application_name=flood"));
    }));
  }
  for (auto& future : flood) {
    const ConnectOutcome outcome = future.get();
    EXPECT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.sqlstate, "53300") << outcome.error;
  }

  for (const PgConn& conn : admitted) {
    EXPECT_EQ(ScalarString(conn.get(), "SELECT 'admitted'"), "admitted");
  }
  // The refused never reached PostgreSQL, nor stayed in the registry.
  EXPECT_EQ(BackendsOf(pg(), "flood"), 0);
  EXPECT_EQ(BackendsOf(pg(), "admitted"), kLimit);
  PgConn admin = pgvalve().ConnectAdmin();
  EXPECT_EQ(RegisteredSessions(admin.get()), kLimit);

  // A place that frees up is taken by the next client.
  admitted.pop_back();
  PgConn next;
  ASSERT_TRUE(PollUntil(
      [&] {
        ConnectOutcome outcome = TryConnect(pgvalve().ClientConnString());
        next = std::move(outcome.conn);
        return next != nullptr;
      },
      DeadlineAfter(30s)));
  EXPECT_EQ(ScalarString(next.get(), "SELECT 'next'"), "next");
}

}  // namespace
}  // namespace pgvalve::test
