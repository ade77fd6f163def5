#pragma once
// DISABLE ALL: one refusal over every database, configured or not, present
// or future, except those it names. The registry owns it and hands it to
// every gate it makes, so the admission check (DatabaseGate::RefusalFor)
// sees it without the session knowing it exists.

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/database_gate.h"

namespace pgvalve::proxy {

struct DisableAllState {
  std::string reason;
  std::vector<std::string> except_databases;
  std::vector<std::string> except_roles;
  StateOrigin origin = StateOrigin::kAdminCommand;
};

class DisableAll {
 public:
  // DISABLE ALL (replacing an earlier one) / ENABLE ALL.
  void Set(DisableAllState state);
  void Clear();
  std::optional<DisableAllState> state() const;

  // Whether DISABLE ALL refuses `database` to users not excepted.
  bool Covers(std::string_view database) const;
  // nullopt when DISABLE ALL lets `user` into `database`; otherwise the
  // reason to refuse.
  std::optional<std::string> RefusalFor(std::string_view database, std::string_view user) const;

 private:
  mutable std::mutex mutex_;
  std::optional<DisableAllState> state_;
};

}  // namespace pgvalve::proxy
