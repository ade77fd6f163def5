#include "tests/e2e/raw_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pgvalve::test {
namespace {

constexpr int32_t kCancelRequestCode = 80877102;

void AppendInt32(std::string& out, int32_t value) {
  const uint32_t network = htonl(static_cast<uint32_t>(value));
  out.append(reinterpret_cast<const char*>(&network), sizeof(network));
}

// A length-prefixed packet without a tag (startup family).
std::string UntaggedPacket(const std::string& payload) {
  std::string packet;
  AppendInt32(packet, static_cast<int32_t>(payload.size() + 4));
  packet += payload;
  return packet;
}

std::string ErrnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

int32_t LoadInt32(const char* bytes) {
  uint32_t network;
  std::memcpy(&network, bytes, sizeof(network));
  return static_cast<int32_t>(ntohl(network));
}

std::string TagsOf(const std::vector<BackendMessage>& messages) {
  std::string tags;
  for (const BackendMessage& message : messages) tags.push_back(message.tag);
  return tags;
}

std::map<char, std::string> ErrorFields(std::string_view body) {
  std::map<char, std::string> fields;
  size_t pos = 0;
  while (pos < body.size() && body[pos] != '\0') {
    const char type = body[pos++];
    const size_t end = body.find('\0', pos);
    if (end == std::string_view::npos) break;
    fields[type] = std::string(body.substr(pos, end - pos));
    pos = end + 1;
  }
  return fields;
}

std::map<char, std::string> FirstError(const std::vector<BackendMessage>& messages) {
  for (const BackendMessage& message : messages) {
    if (message.tag == 'E') return ErrorFields(message.body);
  }
  return {};
}

std::string StartupPacket(const std::vector<std::pair<std::string, std::string>>& parameters,
                          int32_t protocol_version) {
  std::string payload;
  AppendInt32(payload, protocol_version);
  for (const auto& [name, value] : parameters) {
    payload.append(name).push_back('\0');
    payload.append(value).push_back('\0');
  }
  payload.push_back('\0');
  return UntaggedPacket(payload);
}

std::string CancelRequestPacket(int32_t pid, std::string_view secret) {
  std::string payload;
  AppendInt32(payload, kCancelRequestCode);
  AppendInt32(payload, pid);
  payload.append(secret);
  return UntaggedPacket(payload);
}

std::string FrontendMessage(char tag, std::string_view body) {
  std::string message(1, tag);
  AppendInt32(message, static_cast<int32_t>(body.size() + 4));
  message.append(body);
  return message;
}

std::string QueryMessage(std::string_view sql) {
  std::string body(sql);
  body.push_back('\0');
  return FrontendMessage('Q', body);
}

RawConnection RawConnection::ConnectTcp(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(ErrnoText("socket"));
  RawConnection connection(fd);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw std::runtime_error(ErrnoText(("connect to 127.0.0.1:" + std::to_string(port)).c_str()));
  }
  return connection;
}

RawConnection RawConnection::ConnectUnix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(ErrnoText("socket"));
  RawConnection connection(fd);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) throw std::runtime_error("socket path too long: " + path);
  path.copy(address.sun_path, path.size());
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw std::runtime_error(ErrnoText(("connect to " + path).c_str()));
  }
  return connection;
}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    received_ = std::move(other.received_);
    consumed_ = std::exchange(other.consumed_, 0);
  }
  return *this;
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(ErrnoText("send"));
    }
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
}

bool RawConnection::ReadExactly(size_t count, std::string& out, Deadline deadline,
                                bool eof_allowed) {
  // Reads in large pieces and hands out messages from the buffer: a stream
  // of small rows costs a few system calls per buffer, not two per row.
  constexpr size_t kReadSize = 64 * 1024;
  while (received_.size() - consumed_ < count) {
    if (consumed_ > 0) {
      received_.erase(0, consumed_);
      consumed_ = 0;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("timed out reading from the server");
    pollfd fd{fd_, POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) throw std::runtime_error(ErrnoText("poll"));
    if (ready <= 0) continue;
    const size_t old_size = received_.size();
    received_.resize(old_size + kReadSize);
    const ssize_t got = ::recv(fd_, received_.data() + old_size, kReadSize, 0);
    received_.resize(old_size + static_cast<size_t>(std::max<ssize_t>(got, 0)));
    if (got < 0 && errno == EINTR) continue;
    const bool ended = got == 0 || (got < 0 && errno == ECONNRESET);
    if (ended && eof_allowed && received_.empty()) return false;
    if (ended) throw std::runtime_error("connection ended inside a message");
    if (got < 0) throw std::runtime_error(ErrnoText("recv"));
  }
  out.assign(received_, consumed_, count);
  consumed_ += count;
  return true;
}

std::optional<BackendMessage> RawConnection::ReadMessage(Deadline deadline) {
  std::string header;
  if (!ReadExactly(5, header, deadline, /*eof_allowed=*/true)) return std::nullopt;
  const int32_t length = LoadInt32(header.data() + 1);
  if (length < 4) throw std::runtime_error("server sent a message length below 4");
  BackendMessage message;
  message.tag = header[0];
  ReadExactly(static_cast<size_t>(length - 4), message.body, deadline, /*eof_allowed=*/false);
  return message;
}

bool RawConnection::WaitForClose(Deadline deadline) {
  try {
    while (ReadMessage(deadline)) {
    }
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

std::vector<BackendMessage> RawConnection::Start(
    const std::vector<std::pair<std::string, std::string>>& parameters, Deadline deadline,
    int32_t protocol_version) {
  Send(StartupPacket(parameters, protocol_version));
  std::vector<BackendMessage> messages;
  while (true) {
    std::optional<BackendMessage> message = ReadMessage(deadline);
    if (!message) throw std::runtime_error("connection closed during startup");
    if (message->tag == 'E') {
      throw std::runtime_error("startup failed: " + ErrorFields(message->body)['M']);
    }
    const char tag = message->tag;
    messages.push_back(std::move(*message));
    if (tag == 'Z') return messages;
  }
}

std::vector<BackendMessage> RawConnection::ReadUntilReady(Deadline deadline) {
  std::vector<BackendMessage> messages;
  while (true) {
    std::optional<BackendMessage> message = ReadMessage(deadline);
    if (!message) throw std::runtime_error("connection closed before ReadyForQuery");
    const char tag = message->tag;
    messages.push_back(std::move(*message));
    if (tag == 'Z') return messages;
  }
}

std::optional<CancelKey> FindBackendKey(const std::vector<BackendMessage>& messages) {
  for (const BackendMessage& message : messages) {
    if (message.tag == 'K' && message.body.size() >= 8) {
      return CancelKey{LoadInt32(message.body.data()), message.body.substr(4)};
    }
  }
  return std::nullopt;
}

}  // namespace pgvalve::test
