#include "proxy/disable_all.h"

#include <algorithm>

namespace pgvalve::proxy {
namespace {

bool Contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

void DisableAll::Set(DisableAllState state) {
  std::lock_guard lock(mutex_);
  state_ = std::move(state);
}

void DisableAll::Clear() {
  std::lock_guard lock(mutex_);
  state_.reset();
}

std::optional<DisableAllState> DisableAll::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

bool DisableAll::Covers(std::string_view database) const {
  std::lock_guard lock(mutex_);
  return state_ && !Contains(state_->except_databases, database);
}

std::optional<std::string> DisableAll::RefusalFor(std::string_view database,
                                                  std::string_view user) const {
  std::lock_guard lock(mutex_);
  if (!state_ || Contains(state_->except_databases, database) ||
      Contains(state_->except_roles, user)) {
    return std::nullopt;
  }
  return state_->reason;
}

}  // namespace pgvalve::proxy
