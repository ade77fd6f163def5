#pragma once
// Owns the relaying sessions of one io_context between their events. A
// relay waits for its peers in reactor receives that name it by a raw
// pointer (reactor_receive.h) and, once its startup is over, has no timer
// either, so no pending handler holds the session: it is kept here
// instead, in an intrusive list (no allocation per session). When the
// io_context shuts down (destroyed, its pending work abandoned), the
// sessions still kept are let go with it, as a pending handler holding
// them would have been.

#include <memory>
#include <mutex>

#include "proxy/asio.h"

namespace pgvalve::proxy {

class SessionKeeper : public asio::execution_context::service {
 public:
  // The link a kept object carries: its keeper, two list pointers and the
  // owner it keeps.
  class Hold {
   public:
    Hold() = default;
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    // A hold is normally released, or let go by the io_context's shutdown,
    // before it is destroyed; one destroyed while still kept (it did not
    // live inside its owner) unlinks itself rather than leave the list
    // pointing at freed memory.
    ~Hold();

   private:
    friend class SessionKeeper;
    SessionKeeper* keeper_ = nullptr;
    Hold* previous_ = nullptr;
    Hold* next_ = nullptr;
    std::shared_ptr<void> owner_;
  };

  static asio::execution_context::id id;
  explicit SessionKeeper(asio::execution_context& context);
  ~SessionKeeper() override;

  // The keeper of the io_context `executor` runs on.
  static SessionKeeper& Of(const asio::any_io_executor& executor);

  // Keeps `owner` until Release(hold) or the io_context's shutdown. `hold`
  // lives in what `owner` owns, and is not kept yet.
  void Keep(Hold& hold, std::shared_ptr<void> owner);
  // Stops keeping; the owner is handed back rather than dropped, because
  // dropping it may destroy `hold` (and whoever called). Null if `hold`
  // was not kept. Static: the hold knows its keeper, so a session's end
  // does not look the service up again (a mutex and a list walk).
  [[nodiscard]] static std::shared_ptr<void> Release(Hold& hold);

  size_t size() const;

 private:
  void shutdown() override;
  void UnlinkLocked(Hold& hold);

  mutable std::mutex mutex_;
  Hold* first_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pgvalve::proxy
