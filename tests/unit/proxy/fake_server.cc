#include "tests/unit/proxy/fake_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "protocol/startup_packet.h"
#include "tests/unit/proxy/wire.h"

namespace pgvalve::proxy::testutil {
namespace {

uint32_t BigEndian32(const std::byte* bytes) {
  return (static_cast<uint32_t>(bytes[0]) << 24) | (static_cast<uint32_t>(bytes[1]) << 16) |
         (static_cast<uint32_t>(bytes[2]) << 8) | static_cast<uint32_t>(bytes[3]);
}

}  // namespace

// --- FakeConnection -----------------------------------------------------------

FakeConnection::FakeConnection(TestSocket socket) : socket_(std::move(socket)) {}

bool FakeConnection::ReadOpeningPacket() {
  std::byte length_field[4];
  if (socket_.ReadExactly(length_field) != ReadStatus::kOk) return false;
  uint32_t length = BigEndian32(length_field);
  if (length < protocol::kMinStartupPacketLength || length > protocol::kMaxStartupPacketLength) {
    return false;
  }
  Bytes packet(length);
  std::copy(std::begin(length_field), std::end(length_field), packet.begin());
  if (socket_.ReadExactly(std::span(packet).subspan(4)) != ReadStatus::kOk) return false;
  startup_packet_ = std::move(packet);
  return true;
}

void FakeConnection::Record(ReceivedMessage received) {
  std::lock_guard lock(mutex_);
  if (received.ok()) {
    received_.push_back(std::move(received.message));
  } else if (IsClosed(received.status)) {
    peer_closed_ = received.status;
  }
  changed_.notify_all();
}

ReceivedMessage FakeConnection::ReadMessage(Millis timeout) {
  ReceivedMessage received = socket_.ReadMessage(timeout);
  ReceivedMessage copy = received;
  Record(std::move(copy));
  return received;
}

ReadStatus FakeConnection::ReadUntilClosed(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    ReceivedMessage received = ReadMessage(std::max(left, Millis(0)));
    if (!received.ok()) return received.status;
  }
}

ReadStatus FakeConnection::ReadRawUntilClosed(Bytes& out, Millis timeout) {
  ReadStatus status = socket_.ReadUntilClosed(out, timeout);
  Record(ReceivedMessage{ReadStatus::kOk, Message{'?', out}});
  if (IsClosed(status)) Record(ReceivedMessage{status, {}});
  return status;
}

void FakeConnection::Close() {
  std::lock_guard lock(mutex_);
  socket_.Close();
}

void FakeConnection::Abort() {
  std::lock_guard lock(mutex_);
  socket_.ShutdownBoth();
}

void FakeConnection::MarkScriptDone() {
  std::lock_guard lock(mutex_);
  script_done_ = true;
  changed_.notify_all();
}

std::vector<Message> FakeConnection::received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

std::optional<ReadStatus> FakeConnection::peer_closed() const {
  std::lock_guard lock(mutex_);
  return peer_closed_;
}

bool FakeConnection::script_done() const {
  std::lock_guard lock(mutex_);
  return script_done_;
}

bool FakeConnection::WaitUntilDone(Millis timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout,
                           [this] { return script_done_ || peer_closed_.has_value(); });
}

// --- FakeServer ---------------------------------------------------------------

FakeServer::FakeServer(Script script, Options options) : script_(std::move(script)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("fake server: socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, options.backlog) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("fake server: bind/listen on 127.0.0.1:0 failed");
  }
  socklen_t size = sizeof address;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size);
  port_ = ntohs(address.sin_port);
  if (options.accept_now) StartAccepting();
}

FakeServer::~FakeServer() { Stop(); }

void FakeServer::StartAccepting() {
  if (accept_thread_.joinable() || stopping_) return;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

void FakeServer::AcceptLoop() {
  while (!stopping_) {
    pollfd entry{.fd = listen_fd_, .events = POLLIN, .revents = 0};
    if (::poll(&entry, 1, 20) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto connection = std::make_shared<FakeConnection>(TestSocket(fd));
    std::lock_guard lock(mutex_);
    all_.push_back(connection);
    threads_.emplace_back([this, connection] { Serve(connection); });
    changed_.notify_all();
  }
}

void FakeServer::Serve(std::shared_ptr<FakeConnection> connection) {
  if (!connection->ReadOpeningPacket()) {
    connection->MarkScriptDone();
    connection->Close();
    return;
  }
  const Bytes& packet = connection->startup_packet();
  if (static_cast<int32_t>(BigEndian32(packet.data() + 4)) == protocol::kCancelRequestCode &&
      packet.size() >= 12) {
    ReceivedCancel cancel{static_cast<int32_t>(BigEndian32(packet.data() + 8)),
                          Bytes(packet.begin() + 12, packet.end()), packet};
    {
      // Recorded before the close, which is what tells the sender that the
      // request was delivered.
      std::lock_guard lock(mutex_);
      cancels_.push_back(std::move(cancel));
      changed_.notify_all();
    }
    // PostgreSQL answers nothing and closes.
    connection->MarkScriptDone();
    connection->Close();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    sessions_.push_back(connection);
    changed_.notify_all();
  }
  if (script_) script_(*connection);
  connection->MarkScriptDone();
  connection->Close();
}

void FakeServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (accept_thread_.joinable()) accept_thread_.join();
  ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    for (auto& connection : all_) connection->Abort();
    threads.swap(threads_);
  }
  for (auto& thread : threads) thread.join();
}

size_t FakeServer::session_count() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

size_t FakeServer::accepted_count() const {
  std::lock_guard lock(mutex_);
  return all_.size();
}

std::shared_ptr<FakeConnection> FakeServer::WaitForSession(size_t index, Millis timeout) {
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, timeout, [&] { return sessions_.size() > index; })) return nullptr;
  return sessions_[index];
}

std::shared_ptr<FakeConnection> FakeServer::WaitForConnection(size_t index, Millis timeout) {
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, timeout, [&] { return all_.size() > index; })) return nullptr;
  return all_[index];
}

std::vector<ReceivedCancel> FakeServer::cancel_requests() const {
  std::lock_guard lock(mutex_);
  return cancels_;
}

std::optional<ReceivedCancel> FakeServer::WaitForCancelRequest(Millis timeout) {
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, timeout, [&] { return !cancels_.empty(); })) return std::nullopt;
  return cancels_.front();
}

// --- Ready-made behaviour -------------------------------------------------------

bool AcceptStartup(FakeConnection& connection, int32_t pid) {
  const Bytes secret = {std::byte{0x11}, std::byte{0x22}, std::byte{0x33}, std::byte{0x44}};
  return connection.Send(StartupReply(pid, secret));
}

void AnswerQueriesUntilClosed(FakeConnection& connection) {
  while (true) {
    ReceivedMessage received = connection.ReadMessage();
    if (!received.ok()) return;
    if (received.message.tag == 'X') {
      connection.ReadUntilClosed();
      return;
    }
    if (received.message.tag == 'Q') {
      connection.Send(Concat({CommandCompleteMessage("SELECT 1"), ReadyForQueryMessage('I')}));
    }
  }
}

FakeServer::Script AnsweringServer() {
  return [](FakeConnection& connection) {
    AcceptStartup(connection);
    AnswerQueriesUntilClosed(connection);
  };
}

}  // namespace pgvalve::proxy::testutil
