#pragma once
// Backend messages pgvalve writes itself: its errors and notices, the
// BackendKeyData it mints, and the result sets of the admin console.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "protocol/backend_messages.h"
#include "protocol/message_writer.h"

namespace pgvalve::protocol {

enum class Severity { kFatal, kError, kWarning, kNotice, kInfo, kLog };
std::string_view SeverityText(Severity severity);

struct ErrorSpec {
  Severity severity = Severity::kError;
  std::string_view sqlstate;
  std::string_view message;
  std::string_view detail;  // omitted when empty
  std::string_view hint;    // omitted when empty
};

void AppendErrorResponse(MessageWriter& writer, const ErrorSpec& error);
void AppendNoticeResponse(MessageWriter& writer, const ErrorSpec& notice);
void AppendReadyForQuery(MessageWriter& writer, TransactionStatus status);
void AppendBackendKeyData(MessageWriter& writer, int32_t pid, std::span<const std::byte> secret);
void AppendParameterStatus(MessageWriter& writer, std::string_view name, std::string_view value);
void AppendAuthentication(MessageWriter& writer, AuthenticationCode code,
                          std::span<const std::byte> data = {});
void AppendEmptyQueryResponse(MessageWriter& writer);
void AppendCommandComplete(MessageWriter& writer, std::string_view command_tag);

// Type OIDs of the columns pgvalve's own result sets use.
enum class ColumnType : int32_t { kBool = 16, kInt8 = 20, kInt4 = 23, kText = 25, kFloat8 = 701 };

struct ColumnSpec {
  std::string_view name;
  ColumnType type = ColumnType::kText;
};

// All columns in text format.
void AppendRowDescription(MessageWriter& writer, std::span<const ColumnSpec> columns);
// nullopt is SQL NULL.
void AppendDataRow(MessageWriter& writer, std::span<const std::optional<std::string_view>> values);

}  // namespace pgvalve::protocol
