// The two costs of a fleet (issue 15), measured against three pgvalve
// instances sharing one etcd and one PostgreSQL. Run by bench/fleet_bench,
// which starts the servers; see the script for what each figure means.
//
//   disable   DISABLE db on instance 1's console, then a new client on
//             every instance until each refuses it (55000): the time from
//             sending DISABLE to the last refusal, and the command's own
//             round trip (it returns once every instance has applied it).
//             ENABLE follows each, untimed.
//   cancel    a session runs pg_sleep(60); a CancelRequest is sent and the
//             time to its 57014 taken: straight to PostgreSQL, to the
//             instance holding the session, and to another instance, which
//             sends it on to the holder (the forwarded cancel).
//
// The client speaks the protocol by hand for the cancel series: libpq
// sends a CancelRequest only to the address its session connected to.

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "libpq_handles.h"

namespace pgvalve::bench {
namespace {

using std::chrono::steady_clock;
using Micros = std::chrono::duration<double, std::micro>;

struct Options {
  std::vector<int> client_ports;  // the instances' client ports; the first is "instance 1"
  int admin_port = 0;             // instance 1's admin console
  std::string admin_password;
  int pg_port = 0;
  std::string database = "fleet_bench";
  int commands = 100;
  int cancels = 50;
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fleet_bench: %s\n", what.c_str());
  std::exit(1);
}

Conn Connect(const std::string& conninfo) {
  Conn conn(PQconnectdb(conninfo.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    Fail("cannot connect (" + conninfo + "): " + PQerrorMessage(conn.get()));
  }
  return conn;
}

void Exec(PGconn* conn, const std::string& sql) {
  Result result(PQexec(conn, sql.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) Fail(sql + ": " + PQerrorMessage(conn));
}

std::string ClientConnInfo(int port, const std::string& database, const std::string& application = "") {
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=" + database +
                         " connect_timeout=10";
  if (!application.empty()) conninfo += " application_name=" + application;
  return conninfo;
}

// Nearest rank over sorted samples.
double Percentile(std::vector<double> samples, int p) {
  std::sort(samples.begin(), samples.end());
  return samples[(samples.size() * p + 99) / 100 - 1];
}

void PrintRow(const char* name, const std::vector<double>& micros) {
  std::printf("| %s | %zu | %.2f | %.2f | %.2f |\n", name, micros.size(), Percentile(micros, 50) / 1000,
              Percentile(micros, 99) / 1000, *std::max_element(micros.begin(), micros.end()) / 1000);
}

// A new client of the database on `port` is refused with 55000.
bool Refused(int port, const std::string& database) {
  Conn conn(PQconnectdb(ClientConnInfo(port, database).c_str()));
  if (PQstatus(conn.get()) == CONNECTION_OK) return false;
  const std::string error = PQerrorMessage(conn.get());
  if (error.find("is not currently accepting connections") == std::string::npos) {
    Fail("a client was refused for another reason: " + error);
  }
  return true;
}

void DisableSeries(const Options& options) {
  Conn admin = Connect("host=127.0.0.1 port=" + std::to_string(options.admin_port) +
                       " user=admin dbname=pgvalve password=" + options.admin_password);
  // Each command's NOTICE says it was applied everywhere; the refusals
  // checked below are the measure.
  PQsetNoticeProcessor(admin.get(), [](void*, const char*) {}, nullptr);
  std::vector<double> acknowledged;
  std::vector<double> refused_everywhere;
  for (int i = 0; i < options.commands; ++i) {
    const auto sent = steady_clock::now();
    Exec(admin.get(), "DISABLE " + options.database);
    acknowledged.push_back(Micros(steady_clock::now() - sent).count());
    for (int port : options.client_ports) {
      const auto give_up = sent + std::chrono::seconds(10);
      while (!Refused(port, options.database)) {
        if (steady_clock::now() > give_up) Fail("port " + std::to_string(port) + " still admits after 10 s");
      }
    }
    refused_everywhere.push_back(Micros(steady_clock::now() - sent).count());
    Exec(admin.get(), "ENABLE " + options.database);
  }
  std::printf("\n## DISABLE on instance 1 until every instance refuses (%zu instances, %d commands)\n\n",
              options.client_ports.size(), options.commands);
  std::printf("| what | samples | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n");
  PrintRow("DISABLE round trip (returns once all applied it)", acknowledged);
  PrintRow("DISABLE sent -> a new client refused on every instance", refused_everywhere);
}

// A session spoken by hand: startup with trust authentication, its
// BackendKeyData, simple queries, and a CancelRequest to any port.
class RawSession {
 public:
  RawSession(int port, const std::string& database, const std::string& application) : fd_(Dial(port)) {
    std::string body;
    AppendInt32(body, 3 << 16);
    for (const auto& [key, value] : {std::pair<std::string, std::string>{"user", "postgres"},
                                     {"database", database},
                                     {"application_name", application}}) {
      body += key + '\0' + value + '\0';
    }
    body += '\0';
    std::string packet;
    AppendInt32(packet, static_cast<int32_t>(body.size() + 4));
    SendAll(fd_, packet + body);
    while (true) {
      auto [tag, message] = Read();
      if (tag == 'E') Fail("startup refused on port " + std::to_string(port));
      if (tag == 'K') {
        pid_ = Int32At(message.data());
        secret_ = message.substr(4);
      }
      if (tag == 'Z') break;
    }
  }
  ~RawSession() {
    std::string terminate = "X";
    AppendInt32(terminate, 4);
    ::send(fd_, terminate.data(), terminate.size(), MSG_NOSIGNAL);
    ::close(fd_);
  }

  void SendQuery(const std::string& sql) {
    std::string message = "Q";
    AppendInt32(message, static_cast<int32_t>(sql.size() + 5));
    SendAll(fd_, message + sql + '\0');
  }
  // Reads until ReadyForQuery; the SQLSTATE of the first error, if any,
  // and when that error arrived.
  std::pair<std::string, steady_clock::time_point> ReadUntilReady() {
    std::string sqlstate;
    steady_clock::time_point at{};
    while (true) {
      auto [tag, message] = Read();
      if (tag == 'E' && sqlstate.empty()) {
        at = steady_clock::now();
        for (size_t i = 0; i < message.size() && message[i] != '\0';) {
          const char field = message[i];
          const size_t end = message.find('\0', i + 1);
          if (field == 'C') sqlstate = message.substr(i + 1, end - i - 1);
          i = end + 1;
        }
      }
      if (tag == 'Z') return {sqlstate, at};
    }
  }
  // A CancelRequest for this session's key, on a connection of its own to
  // `port`; returns once the receiver closed it.
  void Cancel(int port) const {
    std::string packet;
    AppendInt32(packet, static_cast<int32_t>(12 + secret_.size()));
    AppendInt32(packet, 80877102);
    AppendInt32(packet, pid_);
    packet += secret_;
    const int fd = Dial(port);
    SendAll(fd, packet);
    char sink[64];
    while (::recv(fd, sink, sizeof sink, 0) > 0) {
    }
    ::close(fd);
  }

 private:
  static void AppendInt32(std::string& out, int32_t value) {
    const uint32_t network = htonl(static_cast<uint32_t>(value));
    out.append(reinterpret_cast<const char*>(&network), 4);
  }
  static int32_t Int32At(const char* bytes) {
    uint32_t network;
    std::memcpy(&network, bytes, 4);
    return static_cast<int32_t>(ntohl(network));
  }
  static int Dial(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      Fail("cannot connect to port " + std::to_string(port));
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  static void SendAll(int fd, const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) Fail("send failed");
      sent += static_cast<size_t>(n);
    }
  }
  void ReadExactly(char* into, size_t size) {
    size_t got = 0;
    while (got < size) {
      pollfd readable{.fd = fd_, .events = POLLIN, .revents = 0};
      if (::poll(&readable, 1, 10'000) != 1) Fail("no answer within 10 s");
      const ssize_t n = ::recv(fd_, into + got, size - got, 0);
      if (n <= 0) Fail("the session's connection closed");
      got += static_cast<size_t>(n);
    }
  }
  std::pair<char, std::string> Read() {
    char header[5];
    ReadExactly(header, 5);
    const int32_t length = Int32At(header + 1);
    std::string body(static_cast<size_t>(length - 4), '\0');
    ReadExactly(body.data(), body.size());
    return {header[0], std::move(body)};
  }

  int fd_;
  int32_t pid_ = 0;
  std::string secret_;
};

// One cancel of `session`'s pg_sleep, sent to `cancel_port`: the time from
// sending it to the 57014.
double TimeOneCancel(RawSession& session, const std::string& application, int cancel_port, PGconn* direct) {
  const std::string running =
      "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND application_name = '" + application + "'";
  session.SendQuery("SELECT pg_sleep(60)");
  const auto give_up = steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    Result result(PQexec(direct, running.c_str()));
    const bool active =
        PQresultStatus(result.get()) == PGRES_TUPLES_OK && std::string(PQgetvalue(result.get(), 0, 0)) == "1";
    if (active) break;
    if (steady_clock::now() > give_up) Fail("the query did not start within 10 s");
  }
  const auto sent = steady_clock::now();
  session.Cancel(cancel_port);
  auto [sqlstate, at] = session.ReadUntilReady();
  if (sqlstate != "57014") Fail("the query ended with \"" + sqlstate + "\", not 57014");
  return Micros(at - sent).count();
}

void CancelSeries(const Options& options) {
  Conn direct = Connect(ClientConnInfo(options.pg_port, options.database));
  RawSession on_postgres(options.pg_port, options.database, "fleet_bench_direct");
  RawSession on_pgvalve(options.client_ports[0], options.database, "fleet_bench_proxied");
  std::vector<double> postgres;
  std::vector<double> own;
  std::vector<double> forwarded;
  // Interleaved, so that the machine's drift during the run weighs on the
  // three alike.
  for (int i = 0; i < options.cancels; ++i) {
    postgres.push_back(TimeOneCancel(on_postgres, "fleet_bench_direct", options.pg_port, direct.get()));
    own.push_back(TimeOneCancel(on_pgvalve, "fleet_bench_proxied", options.client_ports[0], direct.get()));
    forwarded.push_back(TimeOneCancel(on_pgvalve, "fleet_bench_proxied", options.client_ports[1], direct.get()));
  }
  std::printf("\n## CancelRequest until the session reads 57014 (%d each, interleaved)\n\n", options.cancels);
  std::printf("| sent to | samples | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n");
  PrintRow("PostgreSQL, direct session", postgres);
  PrintRow("pgvalve instance holding the session", own);
  PrintRow("another pgvalve instance (sent on to the holder)", forwarded);
  std::printf("\nforwarded cancel cost: p50 %+.2f ms against the holding instance, %+.2f ms against PostgreSQL\n",
              (Percentile(forwarded, 50) - Percentile(own, 50)) / 1000,
              (Percentile(forwarded, 50) - Percentile(postgres, 50)) / 1000);
}

std::vector<int> Ports(const std::string& list) {
  std::vector<int> ports;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = list.find(',', start);
    ports.push_back(std::atoi(list.substr(start, comma - start).c_str()));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ports;
}

Options Parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--client-ports") {
      options.client_ports = Ports(value);
    } else if (flag == "--admin-port") {
      options.admin_port = std::atoi(value.c_str());
    } else if (flag == "--admin-password") {
      options.admin_password = value;
    } else if (flag == "--pg-port") {
      options.pg_port = std::atoi(value.c_str());
    } else if (flag == "--database") {
      options.database = value;
    } else if (flag == "--commands") {
      options.commands = std::atoi(value.c_str());
    } else if (flag == "--cancels") {
      options.cancels = std::atoi(value.c_str());
    } else {
      Fail("unknown flag " + flag);
    }
  }
  if (options.client_ports.size() < 2 || options.admin_port == 0 || options.pg_port == 0 || options.commands < 1 ||
      options.cancels < 1) {
    Fail("usage: fleet_bench --client-ports P1,P2[,...] --admin-port A --admin-password PW --pg-port PG "
         "[--database DB] [--commands N] [--cancels N]");
  }
  return options;
}

}  // namespace
}  // namespace pgvalve::bench

int main(int argc, char** argv) {
  const pgvalve::bench::Options options = pgvalve::bench::Parse(argc, argv);
  pgvalve::bench::DisableSeries(options);
  pgvalve::bench::CancelSeries(options);
  return 0;
}
