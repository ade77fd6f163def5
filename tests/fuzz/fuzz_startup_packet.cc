// Fuzzes the startup family: the length field, then ParseStartupPacket on
// the body. Input: the packet as a client would send it (Int32 length, body).
//
// Besides not crashing, every accepted packet must be exactly what a
// writer produces from the parsed value, and every rejection must carry one
// of the SQLSTATEs the header documents.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "protocol/message_reader.h"
#include "protocol/message_writer.h"
#include "protocol/protocol_error.h"
#include "protocol/startup_packet.h"
#include "tests/fuzz/fuzz_check.h"

namespace pgvalve::fuzz {
namespace {

using protocol::CancelRequest;
using protocol::GssEncRequest;
using protocol::MessageWriter;
using protocol::SslRequest;
using protocol::StartupMessage;

bool Within(const void* data, size_t size, std::span<const std::byte> body) {
  const auto* p = static_cast<const std::byte*>(data);
  return p >= body.data() && p + size <= body.data() + body.size();
}

// The packet the writer makes of `body`, length field included, must be the
// length field of body.size() + 4 followed by `body`.
bool Rebuilds(const MessageWriter& writer, std::span<const std::byte> body) {
  std::span<const std::byte> packet = writer.bytes();
  if (packet.size() != body.size() + 4) return false;
  if (protocol::LoadBigEndian32(packet.data()) != body.size() + 4) return false;
  return std::equal(body.begin(), body.end(), packet.begin() + 4);
}

void CheckBody(std::span<const std::byte> body) {
  absl::StatusOr<protocol::StartupPacket> packet = protocol::ParseStartupPacket(body);
  if (!packet.ok()) {
    const std::string sqlstate = protocol::SqlStateOf(packet.status());
    PGVALVE_FUZZ_CHECK(sqlstate == "08P01" || sqlstate == "0A000" || sqlstate == "28000");
    if (sqlstate == "0A000") {
      PGVALVE_FUZZ_CHECK(body.size() >= 4 && protocol::LoadBigEndian32(body.data()) >> 16 != 3);
    }
    return;
  }
  PGVALVE_FUZZ_CHECK(body.size() >= 4);
  const auto code = static_cast<int32_t>(protocol::LoadBigEndian32(body.data()));
  if (std::holds_alternative<SslRequest>(*packet)) {
    PGVALVE_FUZZ_CHECK(code == protocol::kSslRequestCode && body.size() == 4);
  } else if (std::holds_alternative<GssEncRequest>(*packet)) {
    PGVALVE_FUZZ_CHECK(code == protocol::kGssEncRequestCode && body.size() == 4);
  } else if (const auto* cancel = std::get_if<CancelRequest>(&*packet)) {
    PGVALVE_FUZZ_CHECK(code == protocol::kCancelRequestCode);
    PGVALVE_FUZZ_CHECK(cancel->secret.size() >= protocol::kMinCancelSecretLength &&
                       cancel->secret.size() <= protocol::kMaxCancelSecretLength);
    PGVALVE_FUZZ_CHECK(cancel->secret.data() == body.data() + 8 && cancel->secret.size() == body.size() - 8);
    MessageWriter writer;
    protocol::AppendCancelRequest(writer, cancel->pid, cancel->secret);
    PGVALVE_FUZZ_CHECK(Rebuilds(writer, body));
  } else {
    const auto& startup = std::get<StartupMessage>(*packet);
    PGVALVE_FUZZ_CHECK(startup.version.major == 3);
    PGVALVE_FUZZ_CHECK(startup.version.Code() == code);
    PGVALVE_FUZZ_CHECK(!startup.user().empty());
    PGVALVE_FUZZ_CHECK(!startup.database().empty());
    MessageWriter writer;
    writer.BeginUntagged().Int32(startup.version.Code());
    for (const auto& [name, value] : startup.parameters) {
      PGVALVE_FUZZ_CHECK(!name.empty());
      PGVALVE_FUZZ_CHECK(Within(name.data(), name.size(), body) && Within(value.data(), value.size(), body));
      writer.CString(name).CString(value);
    }
    writer.Byte(0).End();
    PGVALVE_FUZZ_CHECK(Rebuilds(writer, body));
  }
}

}  // namespace
}  // namespace pgvalve::fuzz

extern "C" int PGVALVE_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace pgvalve;
  std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  if (input.size() < 4) {
    fuzz::CheckBody(input);
    return 0;
  }
  absl::StatusOr<uint32_t> length = protocol::ParseStartupPacketLength(input.first<4>());
  const uint32_t field = protocol::LoadBigEndian32(input.data());
  const bool in_range =
      field >= protocol::kMinStartupPacketLength && field <= protocol::kMaxStartupPacketLength;
  PGVALVE_FUZZ_CHECK(length.ok() == in_range);
  if (length.ok()) {
    PGVALVE_FUZZ_CHECK(*length == field);
  } else {
    PGVALVE_FUZZ_CHECK(protocol::SqlStateOf(length.status()) == "08P01");
  }
  std::span<const std::byte> rest = input.subspan(4);
  // The body the length field announces, when it is all there...
  if (length.ok() && *length - 4 <= rest.size()) fuzz::CheckBody(rest.first(*length - 4));
  // ...and whatever follows, since the parser must cope with any body.
  fuzz::CheckBody(rest);
  return 0;
}
