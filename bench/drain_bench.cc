// Times DRAIN ... GRACE '0s' (or --grace) THEN TERMINATE against sessions
// that are a third idle, a third idle in an open transaction and a third
// running a long statement, all through pgvalve. Run by bench/drain_bench, which
// starts PostgreSQL and pgvalve; see bench/drain_bench.md.
//
// For each session count and round: a fresh database, the sessions, the
// DRAIN on the admin console (wall time of the command), then a check
// against pg_stat_activity that nothing is left. Prints one line per round
// on stderr and a table of medians and outcome counts on stdout.

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "libpq_handles.h"

namespace pgvalve::bench {
namespace {

using std::chrono::steady_clock;

struct Options {
  std::string proxy;   // libpq keywords for pgvalve's client port, without dbname
  std::string direct;  // the same for PostgreSQL
  std::string admin;   // complete, for the admin console
  std::vector<int> sizes{50, 200, 400};
  int rounds = 3;
  std::string grace = "0s";  // DRAIN's GRACE, as its interval text
};

enum class SessionClass { kIdle, kInTransaction, kActive };
constexpr SessionClass kClasses[] = {SessionClass::kIdle, SessionClass::kInTransaction,
                                     SessionClass::kActive};

const char* ClassName(SessionClass kind) {
  switch (kind) {
    case SessionClass::kIdle: return "idle";
    case SessionClass::kInTransaction: return "in_transaction";
    case SessionClass::kActive: return "active";
  }
  return "";
}

struct Session {
  Conn conn;
  SessionClass kind;
  int backend_pid = 0;
};

// Outcome counts of one class, e.g. {"terminated": 17}.
using OutcomeCounts = std::map<std::string, int>;

struct RoundResult {
  double seconds = 0;
  std::map<SessionClass, OutcomeCounts> outcomes;
  int left_on_server = 0;
  std::string error;  // the DRAIN's error, when it failed
};

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

void IgnoreNotice(void*, const PGresult*) {}

Conn Connect(const std::string& conninfo) {
  Conn conn(PQconnectdb(conninfo.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    Fail("connection failed (" + conninfo + "): " + PQerrorMessage(conn.get()));
  }
  PQsetNoticeReceiver(conn.get(), IgnoreNotice, nullptr);
  return conn;
}

Result Exec(PGconn* conn, const std::string& sql) {
  Result result(PQexec(conn, sql.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Fail("\"" + sql + "\" failed: " + PQerrorMessage(conn));
  }
  return result;
}

std::string Scalar(PGconn* conn, const std::string& sql) {
  Result result = Exec(conn, sql);
  if (PQntuples(result.get()) < 1) Fail("\"" + sql + "\" returned no row");
  return PQgetvalue(result.get(), 0, 0);
}

int CountActivity(PGconn* direct, const std::string& database, const std::string& filter) {
  return std::stoi(Scalar(direct, "SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                                      database + "'" + filter));
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  if (n == 0) return 0;
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Opens `count` sessions on `database` through pgvalve, a third of each
// class, and leaves them in their state.
std::vector<Session> OpenSessions(const Options& options, const std::string& database, int count) {
  std::vector<Session> sessions;
  sessions.reserve(count);
  for (int i = 0; i < count; ++i) {
    Session session{Connect(options.proxy + " dbname=" + database), kClasses[i % 3]};
    session.backend_pid = std::stoi(Scalar(session.conn.get(), "SELECT pg_backend_pid()"));
    switch (session.kind) {
      case SessionClass::kIdle:
        break;
      case SessionClass::kInTransaction:
        Exec(session.conn.get(), "BEGIN");
        Exec(session.conn.get(), "INSERT INTO work VALUES (" + std::to_string(i) + ")");
        break;
      case SessionClass::kActive:
        if (!PQsendQuery(session.conn.get(), "SELECT pg_sleep(600)")) {
          Fail(std::string("cannot send pg_sleep: ") + PQerrorMessage(session.conn.get()));
        }
        break;
    }
    sessions.push_back(std::move(session));
  }
  return sessions;
}

RoundResult RunRound(const Options& options, PGconn* direct, PGconn* admin, int count, int round) {
  const std::string database = "drain_bench_" + std::to_string(count) + "_" + std::to_string(round);
  Exec(direct, "DROP DATABASE IF EXISTS " + database);
  Exec(direct, "CREATE DATABASE " + database);
  {
    Conn setup = Connect(options.direct + " dbname=" + database);
    Exec(setup.get(), "CREATE TABLE work (session int)");
  }

  std::vector<Session> sessions = OpenSessions(options, database, count);
  const int active = count / 3;
  const auto wait_deadline = steady_clock::now() + std::chrono::seconds(60);
  while (CountActivity(direct, database,
                       " AND state = 'active' AND starts_with(query, 'SELECT pg_sleep')") != active) {
    if (steady_clock::now() > wait_deadline) Fail("the pg_sleep statements did not all start");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  RoundResult outcome;
  const std::string sql = "DRAIN " + database + " GRACE '" + options.grace + "' THEN TERMINATE";
  const auto started = steady_clock::now();
  Result report(PQexec(admin, sql.c_str()));
  outcome.seconds = std::chrono::duration<double>(steady_clock::now() - started).count();
  if (PQresultStatus(report.get()) != PGRES_TUPLES_OK) {
    outcome.error = PQerrorMessage(admin);
  } else {
    std::map<int, SessionClass> class_of;
    for (const Session& session : sessions) class_of[session.backend_pid] = session.kind;
    const int pid_column = PQfnumber(report.get(), "backend_pid");
    const int outcome_column = PQfnumber(report.get(), "outcome");
    for (int row = 0; row < PQntuples(report.get()); ++row) {
      auto found = class_of.find(std::atoi(PQgetvalue(report.get(), row, pid_column)));
      if (found == class_of.end()) continue;
      ++outcome.outcomes[found->second][PQgetvalue(report.get(), row, outcome_column)];
      class_of.erase(found);
    }
    for (const auto& [pid, kind] : class_of) ++outcome.outcomes[kind]["(no report row)"];
  }
  outcome.left_on_server = CountActivity(direct, database, "");

  sessions.clear();
  // Whatever a failed drain left behind must not spill into the next round.
  Exec(direct, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                   database + "'");
  Exec(direct, "DROP DATABASE " + database + " WITH (FORCE)");
  return outcome;
}

std::string FormatCounts(const OutcomeCounts& counts) {
  std::string text;
  for (const auto& [name, count] : counts) {
    text += (text.empty() ? "" : ", ") + name + " " + std::to_string(count);
  }
  return text.empty() ? "-" : text;
}

int Run(const Options& options) {
  Conn direct = Connect(options.direct + " dbname=postgres");
  Conn admin = Connect(options.admin);

  struct Row {
    int sessions;
    std::vector<double> seconds;
    std::map<SessionClass, OutcomeCounts> outcomes;
    int failures = 0;
    int left_on_server = 0;
  };
  std::vector<Row> rows;
  for (int count : options.sizes) {
    Row row{count, {}, {}, 0, 0};
    for (int round = 1; round <= options.rounds; ++round) {
      const RoundResult result = RunRound(options, direct.get(), admin.get(), count, round);
      row.seconds.push_back(result.seconds);
      for (const auto& [kind, counts] : result.outcomes) {
        for (const auto& [name, n] : counts) row.outcomes[kind][name] += n;
      }
      row.left_on_server += result.left_on_server;
      if (!result.error.empty()) ++row.failures;
      std::fprintf(stderr, "  sessions=%-4d round=%d %7.3f s%s%s\n", count, round, result.seconds,
                   result.error.empty() ? "" : "  DRAIN failed: ", result.error.c_str());
    }
    rows.push_back(std::move(row));
  }

  std::printf("%-8s %9s %7s %7s %6s %5s  %-32s %-32s %-32s\n", "sessions", "median_s", "min_s",
              "max_s", "failed", "left", ClassName(SessionClass::kIdle),
              ClassName(SessionClass::kInTransaction), ClassName(SessionClass::kActive));
  int failures = 0;
  for (const Row& row : rows) {
    auto counts = [&row](SessionClass kind) {
      auto found = row.outcomes.find(kind);
      return FormatCounts(found == row.outcomes.end() ? OutcomeCounts{} : found->second);
    };
    std::printf("%-8d %9.3f %7.3f %7.3f %6d %5d  %-32s %-32s %-32s\n", row.sessions,
                Median(row.seconds), *std::min_element(row.seconds.begin(), row.seconds.end()),
                *std::max_element(row.seconds.begin(), row.seconds.end()), row.failures,
                row.left_on_server, counts(SessionClass::kIdle).c_str(),
                counts(SessionClass::kInTransaction).c_str(), counts(SessionClass::kActive).c_str());
    failures += row.failures + row.left_on_server;
  }
  return failures == 0 ? 0 : 1;
}

std::vector<int> ParseSizes(const std::string& text) {
  std::vector<int> sizes;
  std::istringstream in(text);
  for (int size; in >> size;) {
    if (size < 3) Fail("session counts must be at least 3");
    sizes.push_back(size);
  }
  if (sizes.empty()) Fail("no session counts in \"" + text + "\"");
  return sizes;
}

void Usage() {
  std::fprintf(stderr,
               "usage: drain_bench --proxy CONNINFO --direct CONNINFO --admin CONNINFO\n"
               "                   [--sizes \"50 200 400\"] [--rounds 3] [--grace 0s]\n"
               "  --proxy/--direct: libpq keywords without dbname (pgvalve, PostgreSQL)\n"
               "  --admin: full conninfo of pgvalve's admin console\n");
}

}  // namespace
}  // namespace pgvalve::bench

int main(int argc, char** argv) {
  using namespace pgvalve::bench;
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      Usage();
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--proxy") {
      options.proxy = value;
    } else if (flag == "--direct") {
      options.direct = value;
    } else if (flag == "--admin") {
      options.admin = value;
    } else if (flag == "--sizes") {
      options.sizes = ParseSizes(value);
    } else if (flag == "--rounds") {
      options.rounds = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--grace") {
      if (value.find('\'') != std::string::npos) {
        std::fprintf(stderr, "drain_bench: --grace is an interval such as 3s\n");
        return 2;
      }
      options.grace = value;
    } else {
      Usage();
      return 2;
    }
  }
  if (options.proxy.empty() || options.direct.empty() || options.admin.empty()) {
    Usage();
    return 2;
  }
  try {
    return Run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "drain_bench: %s\n", error.what());
    return 1;
  }
}
