#pragma once
// Pieces several admin commands share: picking a database's sessions,
// describing a session in one line, and waiting for a database's sessions
// to change.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "admin/commands/command_context.h"
#include "proxy/database_gate.h"
#include "proxy/session_record.h"
#include "proxy/session_registry.h"

namespace pgvalve::admin {

// Progress of a job nobody is watching (NOWAIT) goes nowhere.
class DiscardedNotices : public NoticeChannel {
 public:
  Awaitable<bool> Notice(std::string, std::string) override { co_return true; }
};

std::vector<std::shared_ptr<proxy::SessionRecord>> SessionsOf(const proxy::SessionRegistry& sessions,
                                                             std::string_view database);

// "client 12 (backend pid 4567, idle in transaction, transaction age 3.2 s)"
std::string DescribeSession(const proxy::SessionRecord& record,
                            std::chrono::system_clock::time_point now);

// Wakes a waiting command whenever a session of the gate's database
// changes in a way a PAUSE or DRAIN cares about, or when `deadline` comes.
// Notifications arriving while the command is busy are not lost.
class GateWatcher {
 public:
  GateWatcher(proxy::asio::any_io_executor executor, std::shared_ptr<proxy::DatabaseGate> gate);
  ~GateWatcher();
  GateWatcher(const GateWatcher&) = delete;
  GateWatcher& operator=(const GateWatcher&) = delete;

  Awaitable<void> WaitUntil(std::chrono::steady_clock::time_point deadline);
  // Ends the current (or next) wait early; control thread only.
  void Wake();

 private:
  struct Signal {
    explicit Signal(proxy::asio::any_io_executor executor) : timer(std::move(executor)) {}
    proxy::asio::steady_timer timer;
    bool pending = false;
  };
  std::shared_ptr<Signal> signal_;
  std::shared_ptr<proxy::DatabaseGate> gate_;
  proxy::DatabaseGate::WatchTicket ticket_;
};

}  // namespace pgvalve::admin
