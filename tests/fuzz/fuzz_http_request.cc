// Fuzzes what the HTTP endpoint reads from the network: a request head
// through Beast's parser with the endpoint's header limit, its
// Authorization header through ParseBasicAuthorization, and its target
// through the quoting that may carry it into a reply (JSON strings,
// Prometheus label values). The whole input is also tried as a header value
// and as text to quote.
//
// Besides not crashing:
//   - credentials come only from the basic scheme and are what their token
//     decodes to, split at its first colon (the user holds none);
//   - JsonQuoted gives valid UTF-8 in quotes, with no control character and
//     no unescaped quote inside;
//   - EscapeLabelValue leaves no line feed and no unescaped quote.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "admin/console/scram_crypto.h"
#include "admin/http/basic_credentials.h"
#include "admin/http/http_limits.h"
#include "admin/http/metrics_text.h"
#include "protocol/utf8.h"
#include "proxy/json_text.h"
#include "tests/fuzz/fuzz_check.h"

namespace pgvalve::fuzz {
namespace {

namespace http = boost::beast::http;

// The token after the scheme: base64 holds no space or tab, so it is the
// header's last field.
std::string_view TokenOf(std::string_view header) {
  const size_t end = header.find_last_not_of(" \t");
  if (end == std::string_view::npos) return {};
  header = header.substr(0, end + 1);
  const size_t space = header.find_last_of(" \t");
  return space == std::string_view::npos ? std::string_view() : header.substr(space + 1);
}

void CheckCredentials(std::string_view header) {
  const std::optional<admin::BasicCredentials> credentials = admin::ParseBasicAuthorization(header);
  if (!credentials) return;
  PGVALVE_FUZZ_CHECK(credentials->user.find(':') == std::string::npos);
  const size_t start = header.find_first_not_of(" \t");
  PGVALVE_FUZZ_CHECK(start != std::string_view::npos && header.size() - start > 5);
  for (size_t i = 0; i < 5; ++i) PGVALVE_FUZZ_CHECK((header[start + i] | 0x20) == "basic"[i]);
  const std::optional<std::vector<uint8_t>> decoded = admin::Base64Decode(TokenOf(header));
  PGVALVE_FUZZ_CHECK(decoded.has_value());
  const std::string joined = credentials->user + ":" + credentials->password;
  PGVALVE_FUZZ_CHECK(std::string(decoded->begin(), decoded->end()) == joined);
}

void CheckQuoting(std::string_view text) {
  const std::string json = proxy::JsonQuoted(text);
  PGVALVE_FUZZ_CHECK(json.size() >= 2 && json.front() == '"' && json.back() == '"');
  PGVALVE_FUZZ_CHECK(!protocol::FirstInvalidUtf8(json).has_value());
  for (size_t i = 1; i + 1 < json.size(); ++i) {
    PGVALVE_FUZZ_CHECK(static_cast<uint8_t>(json[i]) >= 0x20);
    if (json[i] == '\\') {
      ++i;  // the escaped character
      PGVALVE_FUZZ_CHECK(i + 1 < json.size());
    } else {
      PGVALVE_FUZZ_CHECK(json[i] != '"');
    }
  }
  const std::string label = admin::EscapeLabelValue(text);
  PGVALVE_FUZZ_CHECK(label.find('\n') == std::string::npos);
  for (size_t i = 0; i < label.size(); ++i) {
    if (label[i] == '\\') {
      ++i;
      PGVALVE_FUZZ_CHECK(i < label.size() && (label[i] == '\\' || label[i] == '"' || label[i] == 'n'));
    } else {
      PGVALVE_FUZZ_CHECK(label[i] != '"');
    }
  }
}

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace pgvalve::fuzz;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  http::request_parser<http::empty_body> parser;
  parser.header_limit(pgvalve::admin::kMaxHttpHeaderBytes);
  boost::system::error_code error;
  parser.put(boost::asio::buffer(data, size), error);
  if (!error && parser.is_header_done()) {
    const auto& request = parser.get();
    const auto authorization = request[http::field::authorization];
    CheckCredentials({authorization.data(), authorization.size()});
    CheckQuoting({request.target().data(), request.target().size()});
  }
  CheckCredentials(input);
  CheckQuoting(input);
  return 0;
}
