#include "proxy/log_text.h"

#include <cstdint>

namespace pgvalve::proxy {
namespace {

void AppendHexEscape(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out.push_back(kHex[byte >> 4]);
  out.push_back(kHex[byte & 0xf]);
}

// Length of the valid UTF-8 sequence starting at text[at], or 0 when the
// byte there does not start one (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF) and not a C1 control. Only called
// for bytes >= 0x80.
size_t ValidSequenceLength(std::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[at + i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    // U+0080..U+009F are the C1 controls; some terminals act on them (CSI
    // is U+009B), so they are escaped like the C0 ones.
    if (lead == 0xc2) second_min = 0xa0;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) second_min = 0xa0;  // overlong
    if (lead == 0xed) second_max = 0x9f;  // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) second_min = 0x90;  // overlong
    if (lead == 0xf4) second_max = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  if (byte(1) < second_min || byte(1) > second_max) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return length;
}

}  // namespace

std::string EscapeForLog(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    const auto byte = static_cast<unsigned char>(text[at]);
    if (byte == '"' || byte == '\\') {
      escaped.push_back('\\');
      escaped.push_back(static_cast<char>(byte));
      ++at;
    } else if (byte < 0x20 || byte == 0x7f) {
      AppendHexEscape(escaped, byte);
      ++at;
    } else if (byte < 0x80) {
      escaped.push_back(static_cast<char>(byte));
      ++at;
    } else if (size_t length = ValidSequenceLength(text, at); length != 0) {
      escaped.append(text.substr(at, length));
      at += length;
    } else {
      AppendHexEscape(escaped, byte);
      ++at;
    }
  }
  return escaped;
}

std::string QuoteForLog(std::string_view text) {
  std::string quoted = "\"";
  quoted += EscapeForLog(text);
  quoted.push_back('"');
  return quoted;
}

}  // namespace pgvalve::proxy
