// The libpq side of bench/cutover_bench, which starts the servers; see
// bench/cutover_bench.md. Three subcommands:
//
//   persistent  CLIENTS connections through pgvalve, each inserting
//               (client, n) in autocommit as fast as it can; CUTOVER on the
//               admin console after a while; then every acknowledged row is
//               looked for on the target.
//   cutover     only the CUTOVER and its row of SHOW CUTOVERS (the pgbench
//               mode, where pgbench is the load).
//   table       reads the rounds' lines on stdin, prints the tables, and
//               exits non-zero when a round lost or duplicated a row or its
//               cutover did not complete.
//
// A round's results travel as one line of tab-separated key=value fields
// (cutover_bench_record.h); the tables are in cutover_bench_table.cc.

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cutover_bench_record.h"
#include "cutover_bench_table.h"
#include "libpq_handles.h"

namespace pgvalve::bench {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

void IgnoreNotice(void*, const PGresult*) {}

Conn Connect(const std::string& conninfo) {
  Conn conn(PQconnectdb(conninfo.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    Fail("connection failed (" + conninfo + "): " + OneLine(PQerrorMessage(conn.get())));
  }
  PQsetNoticeReceiver(conn.get(), IgnoreNotice, nullptr);
  return conn;
}

Result Query(PGconn* conn, const std::string& sql) {
  Result result(PQexec(conn, sql.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Fail("\"" + sql + "\" failed: " + OneLine(PQerrorMessage(conn)));
  }
  return result;
}

// Nearest rank; 0 for no values.
double Percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

double Milliseconds(Clock::duration duration) { return std::chrono::duration<double, std::milli>(duration).count(); }

// ---- the CUTOVER ----------------------------------------------------------

// When the console's NOTICEs arrived: the one sent right after the PAUSE,
// and the one sent after RESUME. They bound the hold window in the
// clients' clock.
struct NoticeTimes {
  std::optional<Clock::time_point> hold_began;
  std::optional<Clock::time_point> done;
};

void RecordNoticeTime(void* arg, const PGresult* notice) {
  auto* times = static_cast<NoticeTimes*>(arg);
  const char* primary = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
  const std::string_view message = primary ? primary : "";
  const auto now = Clock::now();
  if (!times->hold_began && message.find("holding new sessions and requests") != std::string_view::npos) {
    times->hold_began = now;
  }
  if (!times->done && message.find(": done, new sessions go to") != std::string_view::npos) times->done = now;
}

struct CutoverRun {
  Record fields;  // cutover_*: how the command ended and its row of SHOW CUTOVERS
  Clock::time_point sent;
  Clock::time_point returned;
  Clock::time_point hold_began;  // from the NOTICEs; else from hold_seconds
  Clock::time_point hold_ended;
};

// The SHOW CUTOVERS columns a round keeps, under the prefix cutover_.
constexpr const char* kCutoverColumns[] = {
    "id", "outcome", "step", "seconds", "held_new_sessions", "held_requests", "held_p50_ms", "held_p99_ms",
    "held_max_ms", "hold_seconds", "closed", "terminated", "cancelled", "direct_terminated", "lsn", "error"};

CutoverRun RunCutover(const std::string& admin_conninfo, const std::string& statement) {
  Conn admin = Connect(admin_conninfo);
  NoticeTimes times;
  PQsetNoticeReceiver(admin.get(), RecordNoticeTime, &times);
  CutoverRun run;
  std::fprintf(stderr, "  %s\n", statement.c_str());
  run.sent = Clock::now();
  Result result(PQexec(admin.get(), statement.c_str()));
  run.returned = Clock::now();
  run.fields.SetNumber("cutover_wall_s", std::chrono::duration<double>(run.returned - run.sent).count(), 3);
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    run.fields.Set("cutover_command_error", PQerrorMessage(admin.get()));
  } else {
    // The report's "step: hold" and so on, as step_hold_s.
    const int item = PQfnumber(result.get(), "item");
    const int seconds = PQfnumber(result.get(), "seconds");
    for (int row = 0; item >= 0 && seconds >= 0 && row < PQntuples(result.get()); ++row) {
      std::string name = PQgetvalue(result.get(), row, item);
      if (name.rfind("step: ", 0) != 0 || PQgetisnull(result.get(), row, seconds)) continue;
      name = name.substr(6);
      std::replace(name.begin(), name.end(), ' ', '_');
      run.fields.SetNumber("step_" + name + "_s", std::atof(PQgetvalue(result.get(), row, seconds)), 3);
    }
  }
  PQsetNoticeReceiver(admin.get(), IgnoreNotice, nullptr);

  // The newest job is this one: the script starts a fresh pgvalve for every
  // round.
  Result jobs = Query(admin.get(), "SHOW CUTOVERS");
  if (PQntuples(jobs.get()) < 1) Fail("SHOW CUTOVERS has no row after the CUTOVER");
  const int row = PQntuples(jobs.get()) - 1;
  for (const char* column : kCutoverColumns) {
    const int index = PQfnumber(jobs.get(), column);
    if (index < 0) Fail(std::string("SHOW CUTOVERS has no column ") + column);
    run.fields.Set(std::string("cutover_") + column,
                   PQgetisnull(jobs.get(), row, index) ? "" : PQgetvalue(jobs.get(), row, index));
  }
  const auto hold = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(run.fields.Number("cutover_hold_seconds")));
  if (times.hold_began) {
    run.hold_began = *times.hold_began;
    run.hold_ended = times.done.value_or(*times.hold_began + hold);
    run.fields.Set("hold_window_from", "notices");
  } else {
    run.hold_ended = run.returned;
    run.hold_began = run.returned - hold;
    run.fields.Set("hold_window_from", "hold_seconds");
  }
  return run;
}

// ---- persistent clients ----------------------------------------------------

struct Commit {
  int n = 0;
  Clock::time_point first_attempt;  // of this n, before any error and reconnect
  Clock::time_point acknowledged;
};

struct ClientError {
  Clock::time_point at;
  std::string code;  // SQLSTATE, "connect" for a failed connection
  std::string message;
};

struct ConnectTime {
  Clock::time_point started;
  Clock::time_point established;
};

struct ClientLog {
  std::vector<Commit> commits;
  std::vector<ClientError> errors;
  std::vector<ConnectTime> connects;
};

constexpr size_t kMaxErrorsPerClient = 1000;

// Sends the INSERT and reads every result. The first error's SQLSTATE is
// the one that matters: after a FATAL the connection closes and libpq adds
// a result of its own without one ("server closed the connection
// unexpectedly"), which PQexecParams would return instead.
std::optional<ClientError> Insert(PGconn* conn, const char* const values[2]) {
  if (!PQsendQueryParams(conn, "INSERT INTO bench_rows (client, n) VALUES ($1, $2)", 2, nullptr, values, nullptr,
                         nullptr, 0)) {
    return ClientError{Clock::now(), "send", OneLine(PQerrorMessage(conn))};
  }
  std::optional<ClientError> error;
  bool committed = false;
  while (Result result{PQgetResult(conn)}) {
    const ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK) {
      committed = true;
    } else if (!error) {
      const char* sqlstate = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
      error = ClientError{Clock::now(), sqlstate ? sqlstate : "no SQLSTATE", ""};
    }
    if (PQstatus(conn) != CONNECTION_OK) break;
  }
  if (!error && !committed) error = ClientError{Clock::now(), "no result", ""};
  if (error) error->message = OneLine(PQerrorMessage(conn));
  return error;
}

// Inserts (client, n) for n = 1, 2, ... until `stop`. After an error the
// same n is tried again, on a new connection when the old one is gone, so
// a row present twice is a request that failed and committed anyway.
void RunClient(const std::string& conninfo, int client, const std::atomic<bool>& stop, ClientLog& log) {
  const std::string client_text = std::to_string(client);
  Conn conn;
  std::optional<Clock::time_point> first_attempt;
  int n = 1;
  while (!stop.load() && log.errors.size() < kMaxErrorsPerClient) {
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      const auto connecting = Clock::now();
      conn.reset(PQconnectdb(conninfo.c_str()));
      if (PQstatus(conn.get()) != CONNECTION_OK) {
        log.errors.push_back(ClientError{Clock::now(), "connect", OneLine(PQerrorMessage(conn.get()))});
        conn.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      log.connects.push_back(ConnectTime{connecting, Clock::now()});
      PQsetNoticeReceiver(conn.get(), IgnoreNotice, nullptr);
    }
    if (!first_attempt) first_attempt = Clock::now();
    const std::string n_text = std::to_string(n);
    const char* const values[] = {client_text.c_str(), n_text.c_str()};
    std::optional<ClientError> error = Insert(conn.get(), values);
    if (!error) {
      log.commits.push_back(Commit{n, *first_attempt, Clock::now()});
      first_attempt.reset();
      ++n;
      continue;
    }
    log.errors.push_back(std::move(*error));
    // A connection that survived its error would fail the same way at once.
    if (PQstatus(conn.get()) == CONNECTION_OK) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// (client, n) -> how many rows.
using RowCounts = std::map<std::pair<int, int>, int64_t>;

RowCounts ReadRows(const std::string& conninfo) {
  Conn conn = Connect(conninfo);
  Result rows = Query(conn.get(), "SELECT client, n, count(*) FROM bench_rows GROUP BY client, n");
  RowCounts counts;
  for (int row = 0; row < PQntuples(rows.get()); ++row) {
    counts[{std::atoi(PQgetvalue(rows.get(), row, 0)), std::atoi(PQgetvalue(rows.get(), row, 1))}] =
        std::atoll(PQgetvalue(rows.get(), row, 2));
  }
  return counts;
}

// On stderr, in milliseconds from the start of the hold: every client
// error, and the slowest commits that overlapped the hold.
void PrintTimeline(const std::vector<ClientLog>& logs, const CutoverRun& cutover) {
  const auto since_hold = [&cutover](Clock::time_point at) { return Milliseconds(at - cutover.hold_began); };
  std::fprintf(stderr, "  hold window 0 to %.1f ms (from the %s); CUTOVER sent at %.1f ms, returned at %.1f ms\n",
               since_hold(cutover.hold_ended), cutover.fields.Get("hold_window_from").c_str(),
               since_hold(cutover.sent), since_hold(cutover.returned));
  struct Slow {
    int client;
    Commit commit;
  };
  std::vector<Slow> slow;
  for (size_t client = 0; client < logs.size(); ++client) {
    for (const ClientError& error : logs[client].errors) {
      std::fprintf(stderr, "  client %zu: %s at %.1f ms: %s\n", client + 1, error.code.c_str(), since_hold(error.at),
                   error.message.c_str());
    }
    for (size_t i = 1; i < logs[client].connects.size(); ++i) {
      const ConnectTime& connect = logs[client].connects[i];
      std::fprintf(stderr, "  client %zu: reconnected at %.1f ms, in %.1f ms\n", client + 1,
                   since_hold(connect.established), Milliseconds(connect.established - connect.started));
    }
    for (const Commit& commit : logs[client].commits) {
      if (commit.first_attempt < cutover.hold_ended && commit.acknowledged > cutover.hold_began) {
        slow.push_back(Slow{static_cast<int>(client) + 1, commit});
      }
    }
  }
  std::sort(slow.begin(), slow.end(), [](const Slow& a, const Slow& b) {
    return a.commit.acknowledged - a.commit.first_attempt > b.commit.acknowledged - b.commit.first_attempt;
  });
  for (size_t i = 0; i < std::min<size_t>(slow.size(), 5); ++i) {
    std::fprintf(stderr, "  slow: client %d n %d sent at %.1f ms, acknowledged at %.1f ms\n", slow[i].client,
                 slow[i].commit.n, since_hold(slow[i].commit.first_attempt), since_hold(slow[i].commit.acknowledged));
  }
}

struct PersistentOptions {
  std::string proxy, admin, blue, green, statement;
  int clients = 16;
  double seconds = 15;
  double cutover_after = 5;
};

Record RunPersistent(const PersistentOptions& options) {
  std::atomic<bool> stop{false};
  std::vector<ClientLog> logs(options.clients);
  std::vector<std::thread> threads;
  const auto started = Clock::now();
  const auto seconds = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  for (int client = 0; client < options.clients; ++client) {
    threads.emplace_back(RunClient, options.proxy, client + 1, std::cref(stop), std::ref(logs[client]));
  }
  std::this_thread::sleep_until(started + seconds(options.cutover_after));
  CutoverRun cutover;
  try {
    cutover = RunCutover(options.admin, options.statement);
  } catch (...) {
    stop = true;
    for (std::thread& thread : threads) thread.join();
    throw;
  }
  std::this_thread::sleep_until(started + seconds(options.seconds));
  stop = true;
  for (std::thread& thread : threads) thread.join();

  Record record = cutover.fields;
  std::vector<double> baseline, overlapping;
  int64_t commits = 0, errors = 0, errors_max = 0;
  std::map<std::string, int> by_code;
  for (const ClientLog& log : logs) {
    commits += static_cast<int64_t>(log.commits.size());
    errors += static_cast<int64_t>(log.errors.size());
    errors_max = std::max<int64_t>(errors_max, static_cast<int64_t>(log.errors.size()));
    for (const ClientError& error : log.errors) ++by_code[error.code];
    for (const Commit& commit : log.commits) {
      const double latency = Milliseconds(commit.acknowledged - commit.first_attempt);
      if (commit.acknowledged < cutover.sent) baseline.push_back(latency);
      if (commit.first_attempt < cutover.hold_ended && commit.acknowledged > cutover.hold_began) {
        overlapping.push_back(latency);
      }
    }
  }
  PrintTimeline(logs, cutover);
  std::string codes;
  for (const auto& [code, count] : by_code) codes += (codes.empty() ? "" : ",") + code + ":" + std::to_string(count);
  record.SetCount("transactions", commits);
  record.SetCount("errors", errors);
  record.SetCount("errors_max_per_client", errors_max);
  record.Set("error_codes", codes.empty() ? "-" : codes);
  record.SetNumber("baseline_p50_ms", Percentile(baseline, 0.50), 2);
  record.SetNumber("baseline_p99_ms", Percentile(baseline, 0.99), 2);
  record.SetCount("overlap_transactions", static_cast<int64_t>(overlapping.size()));
  record.SetNumber("overlap_p50_ms", Percentile(overlapping, 0.50), 1);
  record.SetNumber("overlap_p99_ms", Percentile(overlapping, 0.99), 1);
  record.SetNumber("overlap_max_ms", Percentile(overlapping, 1.0), 1);
  record.SetNumber("hold_window_ms", Milliseconds(cutover.hold_ended - cutover.hold_began), 1);
  // Reconnecting is part of what a moved client pays: set against the
  // clients' first connections, made all at once like the reconnections.
  std::vector<double> first_connects, reconnects;
  for (const ClientLog& log : logs) {
    for (size_t i = 0; i < log.connects.size(); ++i) {
      const double took = Milliseconds(log.connects[i].established - log.connects[i].started);
      (i == 0 ? first_connects : reconnects).push_back(took);
    }
  }
  record.SetNumber("first_connect_p50_ms", Percentile(first_connects, 0.50), 1);
  record.SetCount("reconnects", static_cast<int64_t>(reconnects.size()));
  record.SetNumber("reconnect_p50_ms", Percentile(reconnects, 0.50), 1);
  record.SetNumber("reconnect_max_ms", Percentile(reconnects, 1.0), 1);

  const RowCounts on_green = ReadRows(options.green);
  const RowCounts on_blue = ReadRows(options.blue);
  int64_t rows = 0, lost = 0, duplicates = 0, unacknowledged = 0, stray = 0;
  std::map<std::pair<int, int>, bool> acknowledged;
  for (int client = 0; client < options.clients; ++client) {
    for (const Commit& commit : logs[client].commits) {
      acknowledged[{client + 1, commit.n}] = true;
      if (!on_green.count({client + 1, commit.n})) ++lost;
    }
  }
  for (const auto& [key, count] : on_green) {
    rows += count;
    duplicates += count - 1;
    if (!acknowledged.count(key)) ++unacknowledged;
  }
  // Green holds everything blue committed up to the catch-up marker, so a
  // row only blue has was written there after the switch.
  for (const auto& [key, count] : on_blue) {
    if (!on_green.count(key)) stray += count;
  }
  record.SetCount("rows_green", rows);
  record.SetCount("lost", lost);
  record.SetCount("duplicates", duplicates);
  record.SetCount("unacknowledged_on_green", unacknowledged);
  record.SetCount("stray_on_blue", stray);
  return record;
}

// ---- command line ----------------------------------------------------------

void Usage() {
  std::fprintf(stderr,
               "usage: cutover_bench persistent --proxy CONNINFO --admin CONNINFO --blue CONNINFO\n"
               "                                --green CONNINFO --statement SQL [--clients 16]\n"
               "                                [--seconds 15] [--cutover-after 5]\n"
               "       cutover_bench cutover --admin CONNINFO --statement SQL\n"
               "       cutover_bench table < rounds\n"
               "  conninfos are complete (dbname included); persistent and cutover print one line of\n"
               "  tab-separated key=value fields, table reads such lines and prints the tables\n");
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    Usage();
    return 2;
  }
  const std::string command = argv[1];
  if (command == "table") return PrintCutoverTables(std::cin);
  PersistentOptions options;
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      Usage();
      return 2;
    }
    const std::string value = argv[i + 1];
    if (flag == "--proxy") {
      options.proxy = value;
    } else if (flag == "--admin") {
      options.admin = value;
    } else if (flag == "--blue") {
      options.blue = value;
    } else if (flag == "--green") {
      options.green = value;
    } else if (flag == "--statement") {
      options.statement = value;
    } else if (flag == "--clients") {
      options.clients = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--seconds") {
      options.seconds = std::atof(value.c_str());
    } else if (flag == "--cutover-after") {
      options.cutover_after = std::atof(value.c_str());
    } else {
      Usage();
      return 2;
    }
  }
  if (options.admin.empty() || options.statement.empty()) {
    Usage();
    return 2;
  }
  if (command == "cutover") {
    std::printf("%s\n", RunCutover(options.admin, options.statement).fields.Line().c_str());
    return 0;
  }
  if (command == "persistent") {
    if (options.proxy.empty() || options.blue.empty() || options.green.empty()) {
      Usage();
      return 2;
    }
    if (options.cutover_after >= options.seconds) Fail("--cutover-after must be less than --seconds");
    std::printf("%s\n", RunPersistent(options).Line().c_str());
    return 0;
  }
  Usage();
  return 2;
}

}  // namespace
}  // namespace pgvalve::bench

int main(int argc, char** argv) {
  try {
    return pgvalve::bench::Main(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cutover_bench: %s\n", error.what());
    return 1;
  }
}
