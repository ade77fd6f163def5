#include "proxy/session_keeper.h"

#include <utility>
#include <vector>

namespace pgvalve::proxy {

asio::execution_context::id SessionKeeper::id;

SessionKeeper::SessionKeeper(asio::execution_context& context) : service(context) {}

SessionKeeper::~SessionKeeper() = default;

SessionKeeper::Hold::~Hold() {
  if (keeper_ != nullptr) {
    std::lock_guard lock(keeper_->mutex_);
    // The owner it kept goes with the hold's members, after the lock.
    keeper_->UnlinkLocked(*this);
  }
}

SessionKeeper& SessionKeeper::Of(const asio::any_io_executor& executor) {
  return asio::use_service<SessionKeeper>(asio::query(executor, asio::execution::context));
}

void SessionKeeper::Keep(Hold& hold, std::shared_ptr<void> owner) {
  std::lock_guard lock(mutex_);
  hold.keeper_ = this;
  hold.owner_ = std::move(owner);
  hold.previous_ = nullptr;
  hold.next_ = first_;
  if (first_ != nullptr) first_->previous_ = &hold;
  first_ = &hold;
  ++size_;
}

std::shared_ptr<void> SessionKeeper::Release(Hold& hold) {
  // Kept and released on the session's thread; only the io_context's
  // shutdown, on another thread once the session's has stopped, unlinks
  // it otherwise.
  SessionKeeper* keeper = hold.keeper_;
  if (keeper == nullptr) return nullptr;
  std::lock_guard lock(keeper->mutex_);
  if (hold.keeper_ != keeper) return nullptr;
  std::shared_ptr<void> owner = std::move(hold.owner_);
  keeper->UnlinkLocked(hold);
  return owner;
}

size_t SessionKeeper::size() const {
  std::lock_guard lock(mutex_);
  return size_;
}

void SessionKeeper::UnlinkLocked(Hold& hold) {
  if (hold.previous_ != nullptr) {
    hold.previous_->next_ = hold.next_;
  } else {
    first_ = hold.next_;
  }
  if (hold.next_ != nullptr) hold.next_->previous_ = hold.previous_;
  hold.keeper_ = nullptr;
  hold.previous_ = hold.next_ = nullptr;
  --size_;
}

void SessionKeeper::shutdown() {
  // Owners are dropped outside the lock: a session's destruction may touch
  // the keeper (its own Hold) or start releasing others.
  std::vector<std::shared_ptr<void>> owners;
  {
    std::lock_guard lock(mutex_);
    owners.reserve(size_);
    while (first_ != nullptr) {
      Hold& hold = *first_;
      owners.push_back(std::move(hold.owner_));
      UnlinkLocked(hold);
    }
  }
  owners.clear();
}

}  // namespace pgvalve::proxy
