#pragma once
// log_format = "json": one JSON object per line for log collectors, with
// stable keys. "ts" (UTC, milliseconds), "level" and "msg" (the line the
// text format prints) always; the key=value fields the text line carries
// (client, database, user, backend_pid, upstream, ...) as keys of their
// own, under the same names; "session_id" for a session's lines; and
// "audit": true on the admin console's audit lines.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spdlog/formatter.h"

namespace pgvalve::proxy {

struct LogField {
  std::string_view key;
  // Without the quotes QuoteForLog put around it, its \" and \\ undone;
  // other escapes (\xNN) stay as written.
  std::string value;
  bool quoted = false;
};

// The key=value fields of a log line, in order: a key of lower-case
// letters, digits and underscores right after a space; a value that is a
// QuoteForLog string, or a word up to the next space (a trailing comma
// dropped).
std::vector<LogField> LogFieldsOf(std::string_view message);

std::string FormatJsonLogLine(std::chrono::system_clock::time_point time, std::string_view level,
                              std::string_view message);

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override;
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonLogFormatter>(); }
};

}  // namespace pgvalve::proxy
