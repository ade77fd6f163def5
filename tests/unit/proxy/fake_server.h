#pragma once
// A scripted stand-in for a PostgreSQL server on 127.0.0.1. Each accepted
// connection gets its own thread: the server reads the opening packet; a
// CancelRequest is recorded and the connection closed, as PostgreSQL does;
// any other packet starts the test's script, which plays the server's side
// with blocking helpers. Everything the server receives is recorded for the
// test thread to inspect. All reads time out (kIoTimeout), and Stop()
// unblocks every script, so a misbehaving proxy fails a test instead of
// hanging it.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "tests/unit/proxy/test_socket.h"

namespace pgvalve::proxy::testutil {

class FakeConnection {
 public:
  explicit FakeConnection(TestSocket socket);

  // The packet the connection opened with, length field included.
  const Bytes& startup_packet() const { return startup_packet_; }

  // --- For the script's thread only ---
  bool Send(std::span<const std::byte> bytes) { return socket_.Send(bytes); }
  // Reads one message and records it; a close is recorded too.
  ReceivedMessage ReadMessage(Millis timeout = kIoTimeout);
  // Reads and records messages until the peer closes (kEof/kReset) or
  // `timeout` passes (kTimedOut).
  ReadStatus ReadUntilClosed(Millis timeout = kIoTimeout);
  // Bytes as they come, unframed, until the peer closes; recorded as one
  // message tagged '?'. For checking exactly what a peer was sent.
  ReadStatus ReadRawUntilClosed(Bytes& out, Millis timeout = kIoTimeout);
  void Close();

  // --- For any thread ---
  std::vector<Message> received() const;
  // How the peer closed, once a read found it closed.
  std::optional<ReadStatus> peer_closed() const;
  // Waits until the peer's close was seen or the script ended.
  bool WaitUntilDone(Millis timeout = kIoTimeout) const;
  bool script_done() const;

 private:
  friend class FakeServer;
  bool ReadOpeningPacket();
  void Record(ReceivedMessage received);
  void MarkScriptDone();
  // Unblocks the script's reads (Stop()).
  void Abort();

  TestSocket socket_;
  Bytes startup_packet_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<Message> received_;
  std::optional<ReadStatus> peer_closed_;
  bool script_done_ = false;
};

struct ReceivedCancel {
  int32_t pid = 0;
  Bytes secret;
  Bytes packet;  // as received, length field included
};

class FakeServer {
 public:
  using Script = std::function<void(FakeConnection&)>;
  struct Options {
    int backlog = 64;
    // When false, connections wait in the listen backlog until
    // StartAccepting(); with backlog 0 a second one is not even completed.
    bool accept_now = true;
  };

  explicit FakeServer(Script script) : FakeServer(std::move(script), Options{}) {}
  FakeServer(Script script, Options options);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  uint16_t port() const { return port_; }
  void StartAccepting();
  // Stops listening (the port refuses connections afterwards), unblocks
  // and joins every script. Idempotent.
  void Stop();

  // Connections that opened with a startup packet (not cancels).
  size_t session_count() const;
  // Every TCP connection accepted, cancels and silent ones included.
  size_t accepted_count() const;
  // The index-th session, once it has arrived; nullptr on timeout.
  std::shared_ptr<FakeConnection> WaitForSession(size_t index, Millis timeout = kIoTimeout);
  // The index-th connection accepted, whatever it opened with (or none);
  // nullptr on timeout. Its WaitUntilDone() returns once it has ended,
  // e.g. closed by the peer before any opening packet.
  std::shared_ptr<FakeConnection> WaitForConnection(size_t index, Millis timeout = kIoTimeout);

  std::vector<ReceivedCancel> cancel_requests() const;
  std::optional<ReceivedCancel> WaitForCancelRequest(Millis timeout = kIoTimeout);

 private:
  void AcceptLoop();
  void Serve(std::shared_ptr<FakeConnection> connection);

  Script script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<FakeConnection>> all_;
  std::vector<std::shared_ptr<FakeConnection>> sessions_;
  std::vector<ReceivedCancel> cancels_;
};

// Ready-made server behaviour.
// Sends StartupReply(pid, secret); false if the client is gone.
bool AcceptStartup(FakeConnection& connection, int32_t pid = 4242);
// Answers every Query with CommandComplete "SELECT 1" and ReadyForQuery
// until the peer closes or sends Terminate (recorded, then waits for EOF).
void AnswerQueriesUntilClosed(FakeConnection& connection);
// A whole well-behaved server: AcceptStartup, then AnswerQueriesUntilClosed.
FakeServer::Script AnsweringServer();

}  // namespace pgvalve::proxy::testutil
