#include "admin/http/basic_credentials.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "admin/console/scram_crypto.h"

namespace pgvalve::admin {
namespace {

constexpr std::string_view kScheme = "basic";

std::string_view TrimSpaces(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

bool StartsWithScheme(std::string_view header) {
  if (header.size() <= kScheme.size() || (header[kScheme.size()] != ' ' && header[kScheme.size()] != '\t')) {
    return false;
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if ((header[i] | 0x20) != kScheme[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view header) {
  header = TrimSpaces(header);
  if (!StartsWithScheme(header)) return std::nullopt;
  std::optional<std::vector<uint8_t>> decoded = Base64Decode(TrimSpaces(header.substr(kScheme.size())));
  if (!decoded) return std::nullopt;
  const auto colon = std::find(decoded->begin(), decoded->end(), uint8_t{':'});
  if (colon == decoded->end()) return std::nullopt;
  BasicCredentials credentials{.user = std::string(decoded->begin(), colon),
                               .password = std::string(colon + 1, decoded->end())};
  Wipe(*decoded);
  return credentials;
}

}  // namespace pgvalve::admin
