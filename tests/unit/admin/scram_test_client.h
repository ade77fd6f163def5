#pragma once
// The client side of SCRAM-SHA-256, written again for the tests with OpenSSL
// and Abseil directly and none of admin/'s code, so the authenticator is
// never its own oracle. ASCII passwords only (no SASLprep), which is all the
// exchange tests need.

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace pgvalve::admin::testutil {

using Bytes = std::vector<std::byte>;

inline std::span<const std::byte> AsSpan(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

inline Bytes ToBytes(std::string_view text) {
  std::span<const std::byte> span = AsSpan(text);
  return Bytes(span.begin(), span.end());
}

// Debian's Abseil has its own string_view, which std::string_view does not
// convert to.
inline absl::string_view Absl(std::string_view text) { return {text.data(), text.size()}; }

inline std::string ToBase64(std::string_view bytes) { return absl::Base64Escape(Absl(bytes)); }

inline std::string FromBase64(std::string_view text) {
  std::string bytes;
  EXPECT_TRUE(absl::Base64Unescape(Absl(text), &bytes)) << text;
  return bytes;
}

inline std::string Hmac(std::string_view key, std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

inline std::string Sha(std::string_view message) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(message.data()), message.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

inline std::string Pbkdf2(std::string_view password, std::string_view salt, int iterations) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                    iterations, EVP_sha256(), sizeof out, out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

inline std::string Xor(std::string_view a, std::string_view b) {
  std::string out(a);
  for (size_t i = 0; i < out.size() && i < b.size(); ++i) out[i] = static_cast<char>(out[i] ^ b[i]);
  return out;
}

// The value of attribute `name` in a SCRAM message, "" when absent.
inline std::string Attribute(std::string_view message, char name) {
  for (absl::string_view field : absl::StrSplit(Absl(message), ',')) {
    if (field.size() >= 2 && field[0] == name && field[1] == '=') return std::string(field.substr(2));
  }
  return "";
}

// SASLInitialResponse body: mechanism, NUL, Int32 length, data.
inline Bytes InitialResponseBody(std::string_view data, std::string_view mechanism = "SCRAM-SHA-256") {
  std::string body(mechanism);
  body += '\0';
  const auto length = static_cast<uint32_t>(data.size());
  for (int shift = 24; shift >= 0; shift -= 8) body += static_cast<char>((length >> shift) & 0xFF);
  body += data;
  return ToBytes(body);
}

class ScramTestClient {
 public:
  ScramTestClient(std::string password, std::string client_nonce = "fyko+d2lbbFgONRv9qkxdawL",
                  std::string gs2_header = "n,,")
      : password_(std::move(password)),
        nonce_(std::move(client_nonce)),
        gs2_header_(std::move(gs2_header)) {}

  // libpq sends an empty user name too: the server uses the startup user.
  std::string ClientFirstBare() const { return "n=,r=" + nonce_; }
  std::string ClientFirst() const { return gs2_header_ + ClientFirstBare(); }
  Bytes InitialResponse() const { return InitialResponseBody(ClientFirst()); }

  // Reads r=, s= and i= from the server-first-message and returns the
  // client-final-message; remembers what ExpectedServerFinal needs.
  std::string ClientFinal(std::string_view server_first) {
    const std::string combined_nonce = Attribute(server_first, 'r');
    const std::string salt = FromBase64(Attribute(server_first, 's'));
    const int iterations = std::stoi(Attribute(server_first, 'i'));
    EXPECT_EQ(combined_nonce.substr(0, nonce_.size()), nonce_);
    const std::string without_proof = "c=" + ToBase64(gs2_header_) + ",r=" + combined_nonce;
    const std::string auth_message =
        ClientFirstBare() + "," + std::string(server_first) + "," + without_proof;
    const std::string salted = Pbkdf2(password_, salt, iterations);
    const std::string client_key = Hmac(salted, "Client Key");
    const std::string proof = Xor(client_key, Hmac(Sha(client_key), auth_message));
    server_final_ = "v=" + ToBase64(Hmac(Hmac(salted, "Server Key"), auth_message));
    return without_proof + ",p=" + ToBase64(proof);
  }

  const std::string& ExpectedServerFinal() const { return server_final_; }

 private:
  std::string password_;
  std::string nonce_;
  std::string gs2_header_;
  std::string server_final_;
};

}  // namespace pgvalve::admin::testutil
