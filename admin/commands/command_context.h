#pragma once
// What an admin command runs with: the proxy's state, the control
// connections, the state file, who is asking, and a channel for NOTICEs
// while it runs.

#include <optional>
#include <string>

#include "admin/commands/result_set.h"
#include "config/config.h"
#include "proxy/access_control.h"
#include "proxy/asio.h"
#include "proxy/database_registry.h"
#include "proxy/process_control.h"
#include "proxy/proxy_context.h"
#include "proxy/session_registry.h"

namespace pgvalve::fleet {
class Fleet;
}  // namespace pgvalve::fleet

namespace pgvalve::upstream {
class ControlConnections;
}

namespace pgvalve::admin {

using proxy::Awaitable;

class AdminCredentials;
template <typename Job>
class JobRegistry;
class CutoverJob;
class DrainJob;
using CutoverRegistry = JobRegistry<CutoverJob>;
using DrainRegistry = JobRegistry<DrainJob>;
class LimitCounters;
class RuntimeLimits;
class StateStore;

struct AdminCaller {
  std::string user;
  config::AdminRole role = config::AdminRole::kMonitor;
  std::string address;
};

// Implemented by the admin session: progress reports of long commands.
class NoticeChannel {
 public:
  virtual ~NoticeChannel() = default;
  // False when the client is gone; the command may stop early.
  virtual Awaitable<bool> Notice(std::string message, std::string detail = {}) = 0;
};

// The narrow services a command uses, each owned elsewhere: the relay's
// registries and configuration, the process's reload and shutdown, and the
// console's own parts.
struct AdminServices {
  proxy::SessionRegistry& sessions;
  proxy::DatabaseRegistry& databases;
  const proxy::ConfigHolder& config;
  proxy::ProcessControl& process;
  upstream::ControlConnections& control;
  StateStore& state;
  AdminCredentials& credentials;
  DrainRegistry& drains;
  CutoverRegistry& cutovers;
  RuntimeLimits& limits;
  const LimitCounters& limit_counters;
  // Both listeners' access rules: the console's login checks them, SHOW
  // RULES lists them.
  proxy::AccessControl& access;
  // This instance's membership of a fleet; null without [fleet].
  fleet::Fleet* fleet = nullptr;
};

struct CommandContext {
  AdminServices& services;
  const AdminCaller& caller;
  NoticeChannel& notices;
};

struct CommandResult {
  std::optional<ResultSet> rows;
  std::string command_tag;  // CommandComplete text, e.g. "DISABLE" or "SHOW"
};

}  // namespace pgvalve::admin
