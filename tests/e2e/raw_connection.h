#pragma once
// A client that speaks the wire protocol byte by byte, for what libpq will
// not send: a malformed message, a CancelRequest with a chosen secret.
// Every read has a deadline.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/e2e/libpq_waits.h"

namespace pgvalve::test {

// One backend message: its tag and its body (without tag and length).
struct BackendMessage {
  char tag = 0;
  std::string body;
};

// The protocol's big-endian Int32 at `bytes`.
int32_t LoadInt32(const char* bytes);

// The tags of `messages`, in order ("TDCZ").
std::string TagsOf(const std::vector<BackendMessage>& messages);

// The fields of an ErrorResponse or NoticeResponse body, by field type
// ('S' severity, 'C' SQLSTATE, 'M' message, ...).
std::map<char, std::string> ErrorFields(std::string_view body);
// The fields of the first ErrorResponse among `messages`; empty without one.
std::map<char, std::string> FirstError(const std::vector<BackendMessage>& messages);

inline constexpr int32_t kProtocolVersion30 = 3 << 16;

// StartupMessage with these parameters, in order.
std::string StartupPacket(const std::vector<std::pair<std::string, std::string>>& parameters,
                          int32_t protocol_version = kProtocolVersion30);

// CancelRequest: Int32 length, Int32 80877102, Int32 pid, then the secret.
std::string CancelRequestPacket(int32_t pid, std::string_view secret);

// A frontend message: tag, Int32 length (counting itself), body.
std::string FrontendMessage(char tag, std::string_view body);

// A simple-protocol Query message for `sql`.
std::string QueryMessage(std::string_view sql);

class RawConnection {
 public:
  // Connects to 127.0.0.1:port; throws std::runtime_error on failure.
  static RawConnection ConnectTcp(uint16_t port);
  // Connects to the unix socket at `path` (DIR/.s.PGSQL.PORT).
  static RawConnection ConnectUnix(const std::string& path);

  RawConnection(RawConnection&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        received_(std::move(other.received_)),
        consumed_(std::exchange(other.consumed_, 0)) {}
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection();

  // Throws std::runtime_error when the peer is gone.
  void Send(std::string_view bytes);

  // The next message, or nothing once the peer has closed the connection
  // (EOF or reset) between messages. Throws std::runtime_error on timeout or
  // when the connection ends inside a message.
  std::optional<BackendMessage> ReadMessage(Deadline deadline);

  // Reads and discards until the peer closes; false if it has not by then.
  bool WaitForClose(Deadline deadline);

  // Sends a StartupMessage for a trusted user and reads up to and including
  // ReadyForQuery; returns those messages. Throws std::runtime_error if an
  // ErrorResponse or the end of the connection comes first.
  std::vector<BackendMessage> Start(
      const std::vector<std::pair<std::string, std::string>>& parameters, Deadline deadline,
      int32_t protocol_version = kProtocolVersion30);

  // Reads up to and including the next ReadyForQuery. Throws
  // std::runtime_error if the connection ends first.
  std::vector<BackendMessage> ReadUntilReady(Deadline deadline);

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  // Takes exactly `count` bytes into `out`; false on a clean EOF or reset
  // when nothing is left unread.
  bool ReadExactly(size_t count, std::string& out, Deadline deadline, bool eof_allowed);

  int fd_ = -1;
  std::string received_;  // read from the socket, not yet handed out from consumed_ on
  size_t consumed_ = 0;
};

// The BackendKeyData among startup messages: pid and secret.
struct CancelKey {
  int32_t pid = 0;
  std::string secret;
};
std::optional<CancelKey> FindBackendKey(const std::vector<BackendMessage>& messages);

}  // namespace pgvalve::test
