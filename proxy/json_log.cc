#include "proxy/json_log.h"

#include <cctype>
#include <set>

#include "fmt/chrono.h"
#include "fmt/format.h"
#include "proxy/json_text.h"
#include "spdlog/details/log_msg.h"

namespace pgvalve::proxy {
namespace {

// Keys of the object itself, which no field may take.
const std::set<std::string_view, std::less<>> kOwnKeys = {"ts", "level", "msg", "session_id", "audit"};

constexpr std::string_view kAuditPrefix = "admin audit:";
constexpr std::string_view kSessionPrefix = "session ";

bool IsKeyCharacter(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

bool AllDigits(std::string_view text) {
  // Up to 18 digits: any such number is exact in an int64 and in a double.
  if (text.empty() || text.size() > 18) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The value of a quoted field starting at text[0] == '"'; `length` gets
// how much of `text` it took, quotes included (all of it, if unclosed).
std::string QuotedValue(std::string_view text, size_t& length) {
  std::string value;
  size_t at = 1;
  while (at < text.size() && text[at] != '"') {
    if (text[at] == '\\' && at + 1 < text.size() && (text[at + 1] == '"' || text[at + 1] == '\\')) {
      value += text[at + 1];
      at += 2;
    } else {
      value += text[at++];
    }
  }
  length = std::min(at + 1, text.size());
  return value;
}

}  // namespace

std::vector<LogField> LogFieldsOf(std::string_view message) {
  std::vector<LogField> fields;
  size_t at = 0;
  while (at < message.size()) {
    if (message[at] == ' ') {
      ++at;
      continue;
    }
    const size_t key_start = at;
    while (at < message.size() && IsKeyCharacter(message[at])) ++at;
    const bool starts_field = at > key_start && at < message.size() && message[at] == '=' &&
                              (key_start == 0 || message[key_start - 1] == ' ');
    if (!starts_field) {
      // On to the next word.
      at = message.find(' ', at);
      if (at == std::string_view::npos) break;
      continue;
    }
    LogField field{.key = message.substr(key_start, at - key_start)};
    ++at;  // '='
    if (at < message.size() && message[at] == '"') {
      size_t length = 0;
      field.value = QuotedValue(message.substr(at), length);
      field.quoted = true;
      at += length;
    } else {
      const size_t end = std::min(message.find(' ', at), message.size());
      std::string_view word = message.substr(at, end - at);
      if (!word.empty() && (word.back() == ',' || word.back() == ';')) word.remove_suffix(1);
      field.value = std::string(word);
      at = end;
    }
    fields.push_back(std::move(field));
  }
  return fields;
}

std::string FormatJsonLogLine(std::chrono::system_clock::time_point time, std::string_view level,
                              std::string_view message) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds).count();
  std::string line = fmt::format("{{\"ts\":\"{:%Y-%m-%dT%H:%M:%S}.{:03}Z\",\"level\":{},\"msg\":{}", seconds,
                                 millis, JsonQuoted(level), JsonQuoted(message));
  if (message.starts_with(kAuditPrefix)) line += ",\"audit\":true";
  if (message.starts_with(kSessionPrefix)) {
    const std::string_view rest = message.substr(kSessionPrefix.size());
    const std::string_view id = rest.substr(0, rest.find_first_not_of("0123456789"));
    if (AllDigits(id)) line += fmt::format(",\"session_id\":{}", id);
  }
  std::set<std::string_view> seen;
  for (const LogField& field : LogFieldsOf(message)) {
    if (kOwnKeys.contains(field.key) || !seen.insert(field.key).second) continue;
    line += ',';
    line += JsonQuoted(field.key);
    line += ':';
    line += !field.quoted && AllDigits(field.value) ? field.value : JsonQuoted(field.value);
  }
  line += "}\n";
  return line;
}

void JsonLogFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) {
  const auto level = spdlog::level::to_string_view(message.level);
  const std::string line = FormatJsonLogLine(message.time, std::string_view(level.data(), level.size()),
                                             std::string_view(message.payload.data(), message.payload.size()));
  out.append(line.data(), line.data() + line.size());
}

}  // namespace pgvalve::proxy
