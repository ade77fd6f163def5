// The framer alone: protocol::MessageScanner walking server-to-client
// traffic the way the relay's server pump does, with the same choice of
// messages to inspect (BackendKeyData, ReadyForQuery, ParameterStatus) and
// everything else streamed. The traffic is scanned in windows of the relay
// buffer's size, without copying, so only the scanner is measured.

#include <benchmark/benchmark.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/backend_writer.h"
#include "protocol/message_scanner.h"
#include "protocol/message_writer.h"

namespace pgvalve::bench {
namespace {

using protocol::BackendTag;
using protocol::MessageAction;
using protocol::MessageWriter;

// The relay's server-to-client buffer (RelayLimits::buffer_size).
constexpr size_t kRelayBufferSize = 32 * 1024;

class RelayLikeVisitor {
 public:
  MessageAction OnMessageStart(char tag, uint32_t /*length*/) {
    ++messages_;
    switch (static_cast<BackendTag>(tag)) {
      case BackendTag::kBackendKeyData:
      case BackendTag::kReadyForQuery:
      case BackendTag::kParameterStatus:
        return MessageAction::kInspect;
      default:
        return MessageAction::kStream;
    }
  }
  absl::Status OnMessage(char /*tag*/, std::span<std::byte> body) {
    benchmark::DoNotOptimize(body.data());
    return absl::OkStatus();
  }
  int64_t messages() const { return messages_; }

 private:
  int64_t messages_ = 0;
};

void AppendResultSet(MessageWriter& writer, int rows, size_t value_size) {
  const std::string value(value_size, 'x');
  const protocol::ColumnSpec column{"v", protocol::ColumnType::kText};
  protocol::AppendRowDescription(writer, std::span(&column, 1));
  const std::optional<std::string_view> row[] = {value};
  for (int i = 0; i < rows; ++i) protocol::AppendDataRow(writer, row);
  protocol::AppendCommandComplete(writer, "SELECT " + std::to_string(rows));
  protocol::AppendReadyForQuery(writer, protocol::TransactionStatus::kIdle);
}

// What pgbench -M extended gets back for one -S transaction, plus the odd
// ParameterStatus and NoticeResponse, repeated to fill `size` bytes.
void AppendMixedTraffic(MessageWriter& writer, size_t size) {
  const protocol::ColumnSpec column{"abalance", protocol::ColumnType::kInt4};
  const std::optional<std::string_view> row[] = {"-4123"};
  for (int i = 0; writer.bytes().size() < size; ++i) {
    writer.Begin(BackendTag::kParseComplete).End();
    writer.Begin(BackendTag::kBindComplete).End();
    protocol::AppendRowDescription(writer, std::span(&column, 1));
    protocol::AppendDataRow(writer, row);
    protocol::AppendCommandComplete(writer, "SELECT 1");
    protocol::AppendReadyForQuery(writer, protocol::TransactionStatus::kIdle);
    if (i % 16 == 0) protocol::AppendParameterStatus(writer, "application_name", "pgbench");
    if (i % 64 == 0) {
      protocol::AppendNoticeResponse(
          writer, {.severity = protocol::Severity::kNotice, .sqlstate = "00000", .message = "note"});
    }
  }
}

// Scans `traffic` in windows of at most `window` bytes, each starting where
// the previous scan's `forward` ended, as the relay's buffer would present it.
int64_t ScanAll(std::span<std::byte> traffic, size_t window) {
  protocol::MessageScanner scanner(1u << 30);
  RelayLikeVisitor visitor;
  size_t start = 0;
  while (start < traffic.size()) {
    const size_t end = std::min(traffic.size(), start + window);
    const protocol::ScanResult result = scanner.Scan(traffic.subspan(start, end - start), window, visitor);
    if (result.stop != protocol::ScanStop::kNeedMore) {
      throw std::runtime_error("unexpected scan stop");
    }
    start += result.forward;
  }
  return visitor.messages();
}

void RunScan(benchmark::State& state, std::vector<std::byte> traffic, size_t window) {
  int64_t messages = 0;
  for (auto _ : state) {
    messages += ScanAll(traffic, window);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * traffic.size()));
  state.SetItemsProcessed(messages);
}

std::vector<std::byte> Bytes(const MessageWriter& writer) {
  return {writer.bytes().begin(), writer.bytes().end()};
}

// DataRow of 100 bytes x N in one result set (a SELECT of many short rows).
void BM_ScanDataRows(benchmark::State& state) {
  MessageWriter writer;
  AppendResultSet(writer, static_cast<int>(state.range(0)), 100);
  RunScan(state, Bytes(writer), kRelayBufferSize);
}
BENCHMARK(BM_ScanDataRows)->Arg(10)->Arg(1000)->Arg(100000);

// Many small replies of all the kinds a session sees; 256 KiB of them.
void BM_ScanMixed(benchmark::State& state) {
  MessageWriter writer;
  AppendMixedTraffic(writer, 256 * 1024);
  RunScan(state, Bytes(writer), static_cast<size_t>(state.range(0)));
}
BENCHMARK(BM_ScanMixed)->Arg(kRelayBufferSize)->Arg(1024);

// 1 KiB rows (the large-result benchmark's shape): mostly streaming bodies.
void BM_ScanLargeRows(benchmark::State& state) {
  MessageWriter writer;
  AppendResultSet(writer, 4096, 1024);
  RunScan(state, Bytes(writer), kRelayBufferSize);
}
BENCHMARK(BM_ScanLargeRows);

}  // namespace
}  // namespace pgvalve::bench
