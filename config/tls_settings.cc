#include "config/tls_settings.h"

#include <array>
#include <cctype>
#include <utility>

namespace pgvalve::config {
namespace {

constexpr std::array<std::pair<std::string_view, ClientTlsMode>, 6> kClientModes{{
    {"disable", ClientTlsMode::kDisable},
    {"allow", ClientTlsMode::kAllow},
    {"prefer", ClientTlsMode::kPrefer},
    {"require", ClientTlsMode::kRequire},
    {"verify-ca", ClientTlsMode::kVerifyCa},
    {"verify-full", ClientTlsMode::kVerifyFull},
}};

constexpr std::array<std::pair<std::string_view, ServerTlsMode>, 6> kServerModes{{
    {"disable", ServerTlsMode::kDisable},
    {"allow", ServerTlsMode::kAllow},
    {"prefer", ServerTlsMode::kPrefer},
    {"require", ServerTlsMode::kRequire},
    {"verify-ca", ServerTlsMode::kVerifyCa},
    {"verify-full", ServerTlsMode::kVerifyFull},
}};

template <typename Mode, size_t N>
std::optional<Mode> Find(const std::array<std::pair<std::string_view, Mode>, N>& table, std::string_view text) {
  for (const auto& [name, mode] : table) {
    if (name == text) return mode;
  }
  return std::nullopt;
}

template <typename Mode, size_t N>
std::string_view NameIn(const std::array<std::pair<std::string_view, Mode>, N>& table, Mode mode) {
  for (const auto& [name, entry] : table) {
    if (entry == mode) return name;
  }
  return "?";
}

}  // namespace

std::optional<ClientTlsMode> ParseClientTlsMode(std::string_view text) { return Find(kClientModes, text); }
std::optional<ServerTlsMode> ParseServerTlsMode(std::string_view text) { return Find(kServerModes, text); }
std::string_view Name(ClientTlsMode mode) { return NameIn(kClientModes, mode); }
std::string_view Name(ServerTlsMode mode) { return NameIn(kServerModes, mode); }
std::string_view Name(TlsVersion version) { return version == TlsVersion::kTls12 ? "tlsv1.2" : "tlsv1.3"; }

std::optional<TlsVersionRange> ParseTlsProtocols(std::string_view text, std::string& error) {
  std::string lowered(text);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lowered == "secure" || lowered == "all" || lowered == "default") {
    return TlsVersionRange{TlsVersion::kTls12, TlsVersion::kTls13};
  }
  bool tls12 = false;
  bool tls13 = false;
  std::string_view rest = lowered;
  while (!rest.empty()) {
    const size_t end = rest.find_first_of(", :");
    const std::string_view item = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (item.empty()) continue;
    if (item == "tlsv1.2") {
      tls12 = true;
    } else if (item == "tlsv1.3") {
      tls13 = true;
    } else if (item == "tlsv1" || item == "tlsv1.0" || item == "tlsv1.1") {
      error = std::string(item) +
              " is not supported (OpenSSL 3 refuses it at its default security level); use tlsv1.2 and tlsv1.3";
      return std::nullopt;
    } else {
      error = "unknown protocol \"" + std::string(item) +
              "\"; expected \"secure\", \"all\" or a list of tlsv1.2 and tlsv1.3";
      return std::nullopt;
    }
  }
  if (!tls12 && !tls13) {
    error = "names no protocol; expected \"secure\", \"all\" or a list of tlsv1.2 and tlsv1.3";
    return std::nullopt;
  }
  return TlsVersionRange{tls12 ? TlsVersion::kTls12 : TlsVersion::kTls13,
                         tls13 ? TlsVersion::kTls13 : TlsVersion::kTls12};
}

}  // namespace pgvalve::config
