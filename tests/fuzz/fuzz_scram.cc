// Fuzzes the admin console's SCRAM-SHA-256 login, server side: the two
// messages a client sends (SASLInitialResponse with the client-first-message,
// SASLResponse with the client-final-message) through one
// ScramAuthenticator. Input: see scram_fuzz_input.h.
//
// Besides not crashing:
//   - every refusal carries 08P01, 0A000 (first message only) or 28P01
//     (second message only), and a second message after a refused first is
//     08P01; after the exchange, another first message is 08P01;
//   - an accepted first message was at most 64 KiB, has the GS2 header
//     "n,," or "y,,", no NUL, and the server-first-message is the client's
//     nonce followed by the server's, the user's salt and iteration count;
//   - the exchange succeeds only for a known user whose client-final-message
//     ends with the right proof, and then returns the right server
//     signature; the right proof (kScramAppendProof) is never refused as a
//     wrong password.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "admin/console/scram_authenticator.h"
#include "admin/console/scram_crypto.h"
#include "protocol/protocol_error.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/scram_fuzz_input.h"

namespace pgvalve::fuzz {
namespace {

using admin::ScramKey;

constexpr std::string_view kMechanismPrefix("SCRAM-SHA-256\0", 14);

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::span<const std::byte> Body(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// The client's view of the fixed credential.
struct Client {
  admin::ScramCredential credential;
  ScramKey client_key;
};

const Client& TheClient() {
  static const Client client = [] {
    const std::span<const uint8_t> salt = Bytes(kScramFuzzSalt);
    Client c;
    c.credential = admin::DeriveScramCredential(kScramFuzzPassword, salt, kScramFuzzIterations);
    const ScramKey salted =
        admin::ScramSaltedPassword(admin::SaslPrep(kScramFuzzPassword), salt, kScramFuzzIterations);
    c.client_key = admin::HmacSha256(salted, "Client Key");
    return c;
  }();
  return client;
}

std::string ProofFor(std::string_view auth_message) {
  const Client& client = TheClient();
  const ScramKey signature = admin::HmacSha256(client.credential.stored_key, auth_message);
  ScramKey proof;
  for (size_t i = 0; i < proof.size(); ++i) proof[i] = client.client_key[i] ^ signature[i];
  return admin::Base64Encode(proof);
}

std::vector<std::string_view> Split(std::string_view text) {
  std::vector<std::string_view> fields;
  for (size_t start = 0;;) {
    const size_t comma = text.find(',', start);
    fields.push_back(text.substr(start, comma - start));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

// The client-first-message of an accepted SASLInitialResponse, and the
// reply to it.
void CheckServerFirst(std::string_view initial, std::string_view server_first, bool unknown_user) {
  PGVALVE_FUZZ_CHECK(initial.size() <= admin::kMaxScramMessageLength);
  PGVALVE_FUZZ_CHECK(initial.starts_with(kMechanismPrefix) && initial.size() >= kMechanismPrefix.size() + 4);
  const std::string_view data = initial.substr(kMechanismPrefix.size() + 4);
  PGVALVE_FUZZ_CHECK(data.find('\0') == std::string_view::npos);
  PGVALVE_FUZZ_CHECK(data.starts_with("n,,") || data.starts_with("y,,"));
  const std::vector<std::string_view> fields = Split(data);
  PGVALVE_FUZZ_CHECK(fields.size() >= 4 && fields[3].starts_with("r="));
  const std::string_view client_nonce = fields[3].substr(2);
  PGVALVE_FUZZ_CHECK(!client_nonce.empty());

  const std::vector<std::string_view> reply = Split(server_first);
  PGVALVE_FUZZ_CHECK(reply.size() == 3);
  PGVALVE_FUZZ_CHECK(reply[0] == "r=" + std::string(client_nonce) + std::string(kScramFuzzServerNonce));
  PGVALVE_FUZZ_CHECK(reply[2] == "i=" + std::to_string(unknown_user ? admin::kScramDefaultIterations
                                                                     : kScramFuzzIterations));
  PGVALVE_FUZZ_CHECK(reply[1].starts_with("s="));
  if (unknown_user) {
    const std::optional<std::vector<uint8_t>> salt = admin::Base64Decode(reply[1].substr(2));
    PGVALVE_FUZZ_CHECK(salt && salt->size() == admin::kScramSaltLength);
  } else {
    PGVALVE_FUZZ_CHECK(reply[1].substr(2) == admin::Base64Encode(Bytes(kScramFuzzSalt)));
  }
}

void CheckRefusal(const absl::Status& status, std::initializer_list<std::string_view> allowed) {
  const std::string sqlstate = protocol::SqlStateOf(status);
  PGVALVE_FUZZ_CHECK(std::find(allowed.begin(), allowed.end(), sqlstate) != allowed.end());
  if (sqlstate == "28P01") {
    PGVALVE_FUZZ_CHECK(MessageOf(status) ==
                       "password authentication failed for user \"" + std::string(kScramFuzzUser) + "\"");
  }
}

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace pgvalve;
  using namespace pgvalve::fuzz;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const uint8_t flags = input.empty() ? 0 : static_cast<uint8_t>(input[0]);
  input.remove_prefix(std::min<size_t>(input.size(), 1));
  uint32_t length = 0;
  for (int i = 0; i < 4 && !input.empty(); ++i) {
    length = (length << 8) | static_cast<uint8_t>(input[0]);
    input.remove_prefix(1);
  }
  const std::string_view initial = input.substr(0, length);
  std::string final_message(input.substr(initial.size()));
  const bool unknown_user = (flags & kScramUnknownUser) != 0;
  const bool append_proof = (flags & kScramAppendProof) != 0;

  admin::ScramAuthenticator server(unknown_user ? nullptr : &TheClient().credential, kScramFuzzUser,
                                   [] { return std::string(kScramFuzzServerNonce); });
  const absl::StatusOr<std::string> server_first = server.OnInitialResponse(Body(initial));
  // What the client signs: client-first-message-bare, server-first-message
  // and the client-final-message without its proof.
  std::string auth_prefix;
  if (server_first.ok()) {
    CheckServerFirst(initial, *server_first, unknown_user);
    auth_prefix = std::string(initial.substr(kMechanismPrefix.size() + 4 + 3)) + "," + *server_first + ",";
  } else {
    CheckRefusal(server_first.status(), {"08P01", "0A000"});
  }
  if (append_proof) {
    final_message += ",p=" + ProofFor(auth_prefix + final_message);
  }

  const absl::StatusOr<std::string> server_final = server.OnFinalResponse(Body(final_message));
  if (!server_first.ok()) {
    CheckRefusal(server_final.status(), {"08P01"});
  } else if (server_final.ok()) {
    PGVALVE_FUZZ_CHECK(!unknown_user);
    const size_t last_comma = final_message.rfind(',');
    PGVALVE_FUZZ_CHECK(last_comma != std::string::npos);
    const std::string auth_message = auth_prefix + final_message.substr(0, last_comma);
    PGVALVE_FUZZ_CHECK(final_message.substr(last_comma + 1) == "p=" + ProofFor(auth_message));
    PGVALVE_FUZZ_CHECK(*server_final ==
                       "v=" + admin::Base64Encode(admin::HmacSha256(TheClient().credential.server_key, auth_message)));
  } else {
    CheckRefusal(server_final.status(), {"08P01", "28P01"});
    if (append_proof && !unknown_user) PGVALVE_FUZZ_CHECK(protocol::SqlStateOf(server_final.status()) != "28P01");
  }

  // One exchange per authenticator, however it ended.
  CheckRefusal(server.OnInitialResponse(Body(initial)).status(), {"08P01"});
  return 0;
}
