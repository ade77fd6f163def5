// Load through pgvalve: 200 clients connected at once, then pgbench's
// select-only and TPC-B-like workloads with no failed transaction.

#include <gtest/gtest.h>

#include <iostream>
#include <latch>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/libpq_waits.h"
#include "tests/support/e2e_environment.h"
#include "tests/support/libpq_helpers.h"
#include "tests/support/subprocess.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;

constexpr int kClients = 200;
constexpr char kPgbenchDatabase[] = "pgbench_e2e";

class LoadTest : public ProxiedPostgresTest {
 protected:
  static CommandResult RunPgbench(const std::vector<std::string>& options) {
    std::vector<std::string> argv = {PgServer::BinPath("pgbench")};
    argv.insert(argv.end(), {"-h", ProxyHost(), "-p", std::to_string(ProxyPort())});
    argv.insert(argv.end(), {"-U", std::string(kSuperuser)});
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(kPgbenchDatabase);
    return RunCommand(argv);
  }

  // `pgbench -i -s 1` through pgvalve, once per binary; its outcome is
  // checked by every test that needs the tables.
  static const CommandResult& Initialized() {
    static const CommandResult result = [] {
      pg().CreateDatabase(kPgbenchDatabase);
      return RunPgbench({"-i", "-s", "1", "-q"});
    }();
    return result;
  }

  // Runs a timed pgbench and checks its report: exit status 0, no failed
  // transaction, a positive throughput.
  static void ExpectCleanRun(const std::vector<std::string>& options) {
    const CommandResult& init = Initialized();
    ASSERT_TRUE(init.Succeeded()) << "pgbench -i " << DescribeWaitStatus(init.wait_status) << "\n"
                                  << init.output;
    CommandResult run = RunPgbench(options);
    ASSERT_TRUE(run.Succeeded()) << DescribeWaitStatus(run.wait_status) << "\n" << run.output;

    std::smatch failed;
    ASSERT_TRUE(std::regex_search(run.output, failed,
                                  std::regex(R"(number of failed transactions: (\d+))")))
        << run.output;
    EXPECT_EQ(failed[1].str(), "0") << run.output;

    std::smatch processed;
    ASSERT_TRUE(std::regex_search(
        run.output, processed, std::regex(R"(number of transactions actually processed: (\d+))")))
        << run.output;
    EXPECT_GT(std::stoll(processed[1].str()), 0) << run.output;

    std::smatch tps;
    ASSERT_TRUE(std::regex_search(run.output, tps, std::regex(R"(tps = ([0-9.]+))"))) << run.output;
    EXPECT_GT(std::stod(tps[1].str()), 0.0) << run.output;
    std::cout << "pgbench";
    for (const std::string& option : options) std::cout << ' ' << option;
    std::cout << ": " << processed[1].str() << " transactions, tps = " << tps[1].str() << "\n";
  }
};

struct ClientOutcome {
  std::string error;  // empty on success
  int32_t backend_pid = 0;
};

TEST_F(LoadTest, TwoHundredConcurrentClientsEachGetTheirAnswer) {
  std::vector<ClientOutcome> outcomes(kClients);
  std::latch connected(kClients);
  std::latch go(1);
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  const std::string conninfo =
      ProxyConnString("postgres", kAppUser, "application_name=load_client");
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      ClientOutcome& outcome = outcomes[i];
      PgConn conn;
      try {
        conn = Connect(conninfo);
      } catch (const PgError& error) {
        outcome.error = error.what();
      }
      connected.count_down();
      go.wait();
      if (!conn) return;
      try {
        std::vector<PgResult> results =
            SendAndCollect(conn.get(), "SELECT " + std::to_string(i) + " * 3, pg_backend_pid()",
                           DeadlineAfter(kHangGuard));
        if (results.size() != 1 || PQresultStatus(results[0].get()) != PGRES_TUPLES_OK) {
          outcome.error = "query failed: " + ErrorText(conn.get());
        } else if (std::string answer = PQgetvalue(results[0].get(), 0, 0);
                   answer != std::to_string(i * 3)) {
          outcome.error = "wrong answer " + answer;
        } else {
          outcome.backend_pid = std::stoi(PQgetvalue(results[0].get(), 0, 1));
        }
      } catch (const PgError& error) {
        outcome.error = error.what();
      }
    });
  }

  // Every client is connected before any of them queries: the server sees
  // all of them at the same time.
  connected.wait();
  PgConn monitor = Connect(pg().SocketConnString());
  EXPECT_EQ(
      ScalarString(monitor.get(),
                   "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'load_client'"),
      std::to_string(kClients));
  go.count_down();
  for (std::thread& client : clients) client.join();

  std::set<int32_t> backend_pids;
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(outcomes[i].error, "") << "client " << i;
    backend_pids.insert(outcomes[i].backend_pid);
  }
  EXPECT_EQ(backend_pids.size(), static_cast<size_t>(kClients)) << "sessions shared a backend";

  // The clients have closed their connections; so must the backends.
  EXPECT_TRUE(PollUntil(
      [&] {
        return ScalarString(monitor.get(),
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE application_name = 'load_client'") == "0";
      },
      DeadlineAfter(30s)))
      << "backends outlived their clients";
}

TEST_F(LoadTest, PgbenchSelectOnlyHasNoFailures) {
  ExpectCleanRun({"-S", "-T", "5", "-c", "8", "-j", "2"});
}

TEST_F(LoadTest, PgbenchTpcbHasNoFailures) { ExpectCleanRun({"-T", "5", "-c", "8", "-j", "2"}); }

}  // namespace
}  // namespace pgvalve::test
