#pragma once
// What the HTTP endpoint answers, before HTTP frames it (http_server.h).

#include <string>
#include <utility>
#include <vector>

namespace pgvalve::admin {

inline constexpr std::string_view kJsonContentType = "application/json";

struct HttpReply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace pgvalve::admin
