// Bulk data through the relay: over 100 MB each way with COPY, a COPY that
// fails midway, a slow reader of 200 MB, one 200 MB value down and one
// 32 MB value up. Data is generated and checksummed as it streams, so
// neither side holds a copy of what the other has.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <poll.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "tests/e2e/fnv_hash.h"
#include "tests/e2e/libpq_waits.h"
#include "tests/e2e/raw_connection.h"
#include "tests/support/e2e_environment.h"
#include "tests/support/libpq_helpers.h"

namespace pgvalve::test {
namespace {

using namespace std::chrono_literals;

// Whole transfers of this size take seconds, several times that under the
// sanitizers; the bound only turns a stall into a failure.
constexpr std::chrono::minutes kBulkGuard{5};

constexpr size_t kPayloadSize = 1024;
constexpr int64_t kCopyRows = 100 * 1024;  // ~105 MB of COPY text
constexpr size_t kCopyChunk = 256 * 1024;

// 2 KiB of letters and digits from a fixed seed: rows are cut from it, so
// they need no COPY escaping and differ from one another.
std::string PatternText() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t state = 0x5eed'0f'b0'1cULL;  // SplitMix64
  std::string text;
  for (size_t i = 0; i < 2 * kPayloadSize; ++i) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    text.push_back(kAlphabet[z % (sizeof(kAlphabet) - 1)]);
  }
  return text;
}

// One COPY text line: "id<TAB>payload<LF>".
void AppendRow(std::string& out, const std::string& pattern, int64_t id) {
  out.append(std::to_string(id)).push_back('\t');
  out.append(pattern, static_cast<size_t>(id * 131) % kPayloadSize, kPayloadSize);
  out.push_back('\n');
}

// Checksum of a set of lines that does not depend on their order (a table
// scan need not return rows in insertion order).
struct LineSetChecksum {
  uint64_t sum = 0;
  int64_t lines = 0;
  uint64_t bytes = 0;

  void Add(std::string_view line) {
    sum += Fnv1a64::Of(line);
    ++lines;
    bytes += line.size();
  }
  bool operator==(const LineSetChecksum&) const = default;
};

std::ostream& operator<<(std::ostream& out, const LineSetChecksum& checksum) {
  return out << "{sum=" << checksum.sum << " lines=" << checksum.lines
             << " bytes=" << checksum.bytes << "}";
}

class Md5 {
 public:
  Md5() : context_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(context_.get(), EVP_md5(), nullptr); }
  void Update(std::string_view bytes) {
    EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size());
  }
  std::string HexDigest() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(context_.get(), digest, &length);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
      hex.push_back(kHex[digest[i] >> 4]);
      hex.push_back(kHex[digest[i] & 0xf]);
    }
    return hex;
  }

 private:
  struct Freer {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  std::unique_ptr<EVP_MD_CTX, Freer> context_;
};

// Waits until the socket can take more or has something to read; what the
// server sends meanwhile (an early error) is read so it cannot block it.
void WaitForProgress(PGconn* conn, Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) throw PgError("timed out sending COPY data (hang guard)", "");
  pollfd fd{PQsocket(conn), POLLIN | POLLOUT, 0};
  if (::poll(&fd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
    throw PgError("poll failed", "");
  }
  if ((fd.revents & POLLIN) != 0 && PQconsumeInput(conn) == 0) {
    throw PgError("connection broke during COPY: " + ErrorText(conn), "");
  }
}

// Flushes libpq's output buffer of a non-blocking connection, so it never
// holds more than one chunk.
void Flush(PGconn* conn, Deadline deadline) {
  while (true) {
    const int flushed = PQflush(conn);
    if (flushed == 0) return;
    if (flushed < 0) throw PgError("PQflush failed: " + ErrorText(conn), "");
    WaitForProgress(conn, deadline);
  }
}

// VmRSS of process `pid` in KiB, from /proc; 0 if it cannot be read.
long ResidentKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

class BulkTest : public ProxiedPostgresTest {};

TEST_F(BulkTest, CopyOfOverOneHundredMegabytesRoundTrips) {
  const std::string pattern = PatternText();
  PgConn conn = Connect(ProxyConnString());
  ExecOk(conn.get(), "CREATE UNLOGGED TABLE bulk_copy (id bigint NOT NULL, payload text NOT NULL)");

  const Deadline deadline = DeadlineAfter(kBulkGuard);
  LineSetChecksum sent;
  ASSERT_EQ(PQsendQuery(conn.get(), "COPY bulk_copy (id, payload) FROM STDIN"), 1);
  PgResult copy_in = NextResult(conn.get(), deadline, "CopyInResponse");
  ASSERT_EQ(PQresultStatus(copy_in.get()), PGRES_COPY_IN) << PQresultErrorMessage(copy_in.get());
  ASSERT_EQ(PQsetnonblocking(conn.get(), 1), 0);
  std::string chunk;
  chunk.reserve(kCopyChunk + 2 * kPayloadSize);
  for (int64_t id = 1; id <= kCopyRows; ++id) {
    const size_t start = chunk.size();
    AppendRow(chunk, pattern, id);
    sent.Add(std::string_view(chunk).substr(start));
    if (chunk.size() >= kCopyChunk || id == kCopyRows) {
      ASSERT_EQ(PQputCopyData(conn.get(), chunk.data(), static_cast<int>(chunk.size())), 1)
          << ErrorText(conn.get());
      Flush(conn.get(), deadline);
      chunk.clear();
    }
  }
  ASSERT_EQ(PQputCopyEnd(conn.get(), nullptr), 1) << ErrorText(conn.get());
  Flush(conn.get(), deadline);
  ASSERT_EQ(PQsetnonblocking(conn.get(), 0), 0);
  ASSERT_GE(sent.bytes, 100u * 1024 * 1024);

  PgResult copied = NextResult(conn.get(), deadline, "the end of COPY FROM STDIN");
  ASSERT_EQ(PQresultStatus(copied.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(copied.get());
  EXPECT_EQ(std::string(PQcmdStatus(copied.get())), "COPY " + std::to_string(kCopyRows));
  ASSERT_EQ(NextResult(conn.get(), deadline), nullptr);

  EXPECT_EQ(ScalarString(conn.get(), "SELECT count(*) FROM bulk_copy"), std::to_string(kCopyRows));
  EXPECT_EQ(ScalarString(conn.get(), "SELECT sum(length(payload)) FROM bulk_copy"),
            std::to_string(kCopyRows * static_cast<int64_t>(kPayloadSize)));

  LineSetChecksum received;
  ASSERT_EQ(PQsendQuery(conn.get(), "COPY bulk_copy (id, payload) TO STDOUT"), 1);
  PgResult copy_out = NextResult(conn.get(), deadline, "CopyOutResponse");
  ASSERT_EQ(PQresultStatus(copy_out.get()), PGRES_COPY_OUT) << PQresultErrorMessage(copy_out.get());
  while (true) {
    char* row = nullptr;
    const int length = PQgetCopyData(conn.get(), &row, /*async=*/1);
    if (length > 0) {
      received.Add(std::string_view(row, static_cast<size_t>(length)));
      PQfreemem(row);
      continue;
    }
    if (length == -1) break;
    ASSERT_EQ(length, 0) << "PQgetCopyData: " << ErrorText(conn.get());
    WaitForProgress(conn.get(), deadline);
  }
  PgResult copied_out = NextResult(conn.get(), deadline, "the end of COPY TO STDOUT");
  ASSERT_EQ(PQresultStatus(copied_out.get()), PGRES_COMMAND_OK)
      << PQresultErrorMessage(copied_out.get());
  EXPECT_EQ(std::string(PQcmdStatus(copied_out.get())), "COPY " + std::to_string(kCopyRows));
  ASSERT_EQ(NextResult(conn.get(), deadline), nullptr);

  EXPECT_EQ(received, sent);
  ExecOk(conn.get(), "DROP TABLE bulk_copy");
}

TEST_F(BulkTest, CopyThatFailsMidStreamLeavesTheSessionUsable) {
  PgConn conn = Connect(ProxyConnString());
  PGconn* c = conn.get();
  ExecOk(c, "CREATE TABLE bulk_numbers (n int)");
  const Deadline deadline = DeadlineAfter(kBulkGuard);

  // A bad row early on: the server reports it at once and then discards
  // what keeps coming until the client ends the COPY, so the relay must
  // keep streaming the rest (a few megabytes) up while the error is down.
  ASSERT_EQ(PQsendQuery(c, "COPY bulk_numbers FROM STDIN"), 1);
  PgResult copy_in = NextResult(c, deadline, "CopyInResponse");
  ASSERT_EQ(PQresultStatus(copy_in.get()), PGRES_COPY_IN) << PQresultErrorMessage(copy_in.get());
  ASSERT_EQ(PQsetnonblocking(c, 1), 0);
  std::string chunk;
  for (int n = 1; n <= 500'000; ++n) {
    chunk += n == 1000 ? std::string("not a number\n") : std::to_string(n) + "\n";
    if (chunk.size() >= kCopyChunk || n == 500'000) {
      ASSERT_EQ(PQputCopyData(c, chunk.data(), static_cast<int>(chunk.size())), 1) << ErrorText(c);
      Flush(c, deadline);
      chunk.clear();
    }
  }
  ASSERT_EQ(PQputCopyEnd(c, nullptr), 1) << ErrorText(c);
  Flush(c, deadline);
  ASSERT_EQ(PQsetnonblocking(c, 0), 0);
  PgResult failed = NextResult(c, deadline, "the COPY's error");
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(PQresultStatus(failed.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(SqlState(failed.get()), "22P02") << PQresultErrorMessage(failed.get());
  EXPECT_EQ(NextResult(c, deadline), nullptr);
  EXPECT_EQ(ScalarString(c, "SELECT count(*) FROM bulk_numbers"), "0");

  // A COPY the client abandons (CopyFail) is an error too, and the session
  // goes on.
  ASSERT_EQ(PQsendQuery(c, "COPY bulk_numbers FROM STDIN"), 1);
  PgResult copy_again = NextResult(c, deadline, "CopyInResponse");
  ASSERT_EQ(PQresultStatus(copy_again.get()), PGRES_COPY_IN);
  ASSERT_EQ(PQputCopyData(c, "1\n2\n", 4), 1);
  ASSERT_EQ(PQputCopyEnd(c, "client changed its mind"), 1);
  PgResult abandoned = NextResult(c, deadline, "the abandoned COPY's error");
  ASSERT_NE(abandoned, nullptr);
  EXPECT_EQ(SqlState(abandoned.get()), "57014") << PQresultErrorMessage(abandoned.get());
  EXPECT_NE(std::string(PQresultErrorMessage(abandoned.get())).find("client changed its mind"),
            std::string::npos);
  EXPECT_EQ(NextResult(c, deadline), nullptr);

  ExecOk(c, "INSERT INTO bulk_numbers VALUES (1), (2), (3)");
  EXPECT_EQ(ScalarString(c, "SELECT sum(n) FROM bulk_numbers"), "6");
  ExecOk(c, "DROP TABLE bulk_numbers");
}

TEST_F(BulkTest, SlowReaderHoldsTheServerBackInsteadOfFillingMemory) {
  // 200 MB of rows for a client that reads nothing for a while: the relay
  // reads from the server only as fast as the client takes, so the backend
  // ends up waiting to write and pgvalve's memory stays flat.
  constexpr int kRows = 200 * 1024;
  const long rss_before = TargetIsDirect() ? 0 : ResidentKib(proxy().pid());

  RawConnection raw = RawConnection::ConnectTcp(ProxyPort());
  raw.Start({{"user", std::string(kSuperuser)},
             {"database", "postgres"},
             {"application_name", "bulk_slow_reader"}},
            DeadlineAfter(30s));
  raw.Send(QueryMessage("SELECT repeat('x', 1024) FROM generate_series(1, " +
                        std::to_string(kRows) + ")"));

  PgConn monitor = Connect(pg().SocketConnString());
  EXPECT_TRUE(PollUntil(
      [&] {
        return ScalarString(monitor.get(),
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                            "'bulk_slow_reader' AND wait_event = 'ClientWrite'") == "1";
      },
      DeadlineAfter(30s)))
      << "the backend never had to wait for the client";
  std::this_thread::sleep_for(1s);
  if (!TargetIsDirect()) {
    const long rss_after = ResidentKib(proxy().pid());
    ASSERT_GT(rss_before, 0);
    ASSERT_GT(rss_after, 0);
    EXPECT_LT(rss_after - rss_before, 64 * 1024)
        << "pgvalve grew from " << rss_before << " KiB to " << rss_after << " KiB";
  }

  // Everything still arrives, in order and whole.
  int rows = 0;
  const Deadline deadline = DeadlineAfter(kBulkGuard);
  while (true) {
    std::optional<BackendMessage> message = raw.ReadMessage(deadline);
    ASSERT_TRUE(message.has_value()) << "the connection closed after " << rows << " rows";
    if (message->tag == 'D') {
      // Int16 column count, Int32 length, the value.
      ASSERT_EQ(message->body.size(), 2u + 4u + 1024u) << "row " << rows;
      ++rows;
    } else if (message->tag == 'Z') {
      break;
    } else {
      ASSERT_TRUE(message->tag == 'T' || message->tag == 'C')
          << "unexpected '" << message->tag << "' after " << rows << " rows";
    }
  }
  EXPECT_EQ(rows, kRows);
}

TEST_F(BulkTest, TwoHundredMegabyteValueArrivesIntact) {
  constexpr int kRepeats = 200 * 1024;  // of the 1 KiB pattern: 200 MiB
  const std::string pattern = PatternText().substr(0, kPayloadSize);
  PgConn conn = Connect(ProxyConnString());

  // OFFSET 0 keeps the subquery from being flattened, so the value is built
  // once and both md5() and the output read the same datum.
  const std::string sql = "SELECT md5(v), length(v), v FROM (SELECT repeat($1::text, " +
                          std::to_string(kRepeats) + ") AS v OFFSET 0) s";
  const char* values[] = {pattern.c_str()};
  ASSERT_EQ(PQsendQueryParams(conn.get(), sql.c_str(), 1, nullptr, values, nullptr, nullptr, 0), 1)
      << ErrorText(conn.get());
  const Deadline deadline = DeadlineAfter(kBulkGuard);
  PgResult result = NextResult(conn.get(), deadline, "the 200 MB row");
  ASSERT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(result.get());
  ASSERT_EQ(NextResult(conn.get(), deadline), nullptr);

  const std::string server_md5 = PQgetvalue(result.get(), 0, 0);
  EXPECT_EQ(std::string(PQgetvalue(result.get(), 0, 1)),
            std::to_string(static_cast<int64_t>(kRepeats) * kPayloadSize));
  ASSERT_EQ(static_cast<size_t>(PQgetlength(result.get(), 0, 2)),
            static_cast<size_t>(kRepeats) * kPayloadSize);
  Md5 received;
  received.Update(std::string_view(PQgetvalue(result.get(), 0, 2),
                                   static_cast<size_t>(PQgetlength(result.get(), 0, 2))));
  result.reset();

  Md5 expected;
  for (int i = 0; i < kRepeats; ++i) expected.Update(pattern);
  const std::string expected_md5 = expected.HexDigest();
  EXPECT_EQ(server_md5, expected_md5) << "the server built another value than intended";
  EXPECT_EQ(received.HexDigest(), expected_md5) << "the value changed on its way to the client";
}

TEST_F(BulkTest, ThirtyTwoMegabyteParameterArrivesIntact) {
  constexpr size_t kSize = 32 * 1024 * 1024;
  const std::string pattern = PatternText();
  std::string value;
  value.reserve(kSize);
  while (value.size() < kSize) {
    value.append(pattern, 0, std::min(pattern.size(), kSize - value.size()));
  }
  Md5 md5;
  md5.Update(value);

  PgConn conn = Connect(ProxyConnString());
  const char* values[] = {value.c_str()};
  ASSERT_EQ(PQsendQueryParams(conn.get(), "SELECT md5($1::text), length($1::text)", 1, nullptr,
                              values, nullptr, nullptr, 0),
            1)
      << ErrorText(conn.get());
  const Deadline deadline = DeadlineAfter(kBulkGuard);
  PgResult result = NextResult(conn.get(), deadline, "the md5 of the parameter");
  ASSERT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(result.get());
  ASSERT_EQ(NextResult(conn.get(), deadline), nullptr);
  EXPECT_EQ(std::string(PQgetvalue(result.get(), 0, 0)), md5.HexDigest());
  EXPECT_EQ(std::string(PQgetvalue(result.get(), 0, 1)), std::to_string(kSize));
}

}  // namespace
}  // namespace pgvalve::test
