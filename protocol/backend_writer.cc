#include "protocol/backend_writer.h"

namespace pgvalve::protocol {
namespace {

int16_t TypeSize(ColumnType type) {
  switch (type) {
    case ColumnType::kBool: return 1;
    case ColumnType::kInt4: return 4;
    case ColumnType::kInt8:
    case ColumnType::kFloat8: return 8;
    case ColumnType::kText: return -1;  // variable length
  }
  return -1;
}

void AppendFields(MessageWriter& writer, BackendTag tag, const ErrorSpec& spec) {
  std::string_view severity = SeverityText(spec.severity);
  writer.Begin(tag);
  writer.Byte('S').CString(severity);
  writer.Byte('V').CString(severity);
  writer.Byte('C').CString(spec.sqlstate);
  writer.Byte('M').CString(spec.message);
  if (!spec.detail.empty()) writer.Byte('D').CString(spec.detail);
  if (!spec.hint.empty()) writer.Byte('H').CString(spec.hint);
  writer.Byte(0).End();
}

}  // namespace

std::string_view SeverityText(Severity severity) {
  switch (severity) {
    case Severity::kFatal: return "FATAL";
    case Severity::kError: return "ERROR";
    case Severity::kWarning: return "WARNING";
    case Severity::kNotice: return "NOTICE";
    case Severity::kInfo: return "INFO";
    case Severity::kLog: return "LOG";
  }
  return "ERROR";
}

void AppendErrorResponse(MessageWriter& writer, const ErrorSpec& error) {
  AppendFields(writer, BackendTag::kErrorResponse, error);
}

void AppendNoticeResponse(MessageWriter& writer, const ErrorSpec& notice) {
  AppendFields(writer, BackendTag::kNoticeResponse, notice);
}

void AppendReadyForQuery(MessageWriter& writer, TransactionStatus status) {
  writer.Begin(BackendTag::kReadyForQuery).Byte(static_cast<uint8_t>(status)).End();
}

void AppendBackendKeyData(MessageWriter& writer, int32_t pid, std::span<const std::byte> secret) {
  writer.Begin(BackendTag::kBackendKeyData).Int32(pid).Bytes(secret).End();
}

void AppendParameterStatus(MessageWriter& writer, std::string_view name, std::string_view value) {
  writer.Begin(BackendTag::kParameterStatus).CString(name).CString(value).End();
}

void AppendAuthentication(MessageWriter& writer, AuthenticationCode code,
                          std::span<const std::byte> data) {
  writer.Begin(BackendTag::kAuthentication).Int32(static_cast<int32_t>(code)).Bytes(data).End();
}

void AppendEmptyQueryResponse(MessageWriter& writer) {
  writer.Begin(BackendTag::kEmptyQueryResponse).End();
}

void AppendCommandComplete(MessageWriter& writer, std::string_view command_tag) {
  writer.Begin(BackendTag::kCommandComplete).CString(command_tag).End();
}

void AppendRowDescription(MessageWriter& writer, std::span<const ColumnSpec> columns) {
  writer.Begin(BackendTag::kRowDescription).Int16(static_cast<int16_t>(columns.size()));
  for (const ColumnSpec& column : columns) {
    writer.CString(column.name)
        .Int32(0)  // not a column of a table
        .Int16(0)
        .Int32(static_cast<int32_t>(column.type))
        .Int16(TypeSize(column.type))
        .Int32(-1)  // no type modifier
        .Int16(0);  // text format
  }
  writer.End();
}

void AppendDataRow(MessageWriter& writer, std::span<const std::optional<std::string_view>> values) {
  writer.Begin(BackendTag::kDataRow).Int16(static_cast<int16_t>(values.size()));
  for (const std::optional<std::string_view>& value : values) {
    if (!value) {
      writer.Int32(-1);
      continue;
    }
    writer.Int32(static_cast<int32_t>(value->size())).Bytes(*value);
  }
  writer.End();
}

}  // namespace pgvalve::protocol
