#include "tls/openssl_error.h"

#include <openssl/err.h>

#include <array>

namespace pgvalve::tls {

std::string TakeOpenSslErrors() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    std::array<char, 256> reason;
    ERR_error_string_n(code, reason.data(), reason.size());
    // "error:0A000086:SSL routines::certificate verify failed": the reason
    // is what an operator needs; the codes stay for a search.
    std::string_view line(reason.data());
    if (const char* short_reason = ERR_reason_error_string(code)) line = short_reason;
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text.empty() ? "no error reported" : text;
}

}  // namespace pgvalve::tls
