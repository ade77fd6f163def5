#include "proxy/relay.h"

#include <boost/asio/bind_cancellation_slot.hpp>

#include "protocol/sqlstate.h"

// How the relay starts, runs a pump's coroutine, and ends: the first part
// to end it stops the others, and the supervisor, which also applies the
// startup deadline and requests from outside, hands over to the owner once
// nothing of the relay runs any more.

namespace pgvalve::proxy {

void Relay::Start() {
  // The pumps' receives do not hold the session (reactor_receive.h).
  SessionKeeper::Of(client_.executor()).Keep(kept_, owner_.RelayKeepalive());
  ArmClientReceive();
  ArmServerReceive();
  startup_timer_ = std::make_unique<asio::steady_timer>(client_.executor(), limits_.startup_deadline);
  ArmStartupTimer();
}

void Relay::StartCoroutine(Pump& pump, Awaitable<void> work) {
  auto cancel = std::make_shared<asio::cancellation_signal>();
  pump.cancel = cancel;
  pump.state = PumpState::kInCoroutine;
  ++coroutines_;
  // Holds the session: a coroutine may outlive the pump's receive.
  std::shared_ptr<void> keepalive = owner_.RelayKeepalive();
  auto ended = [this, &pump, cancel, keepalive](std::exception_ptr failure) {
    --coroutines_;
    // Unless the pump has moved on (the coroutine started a receive), the
    // pump ends with its coroutine.
    if (pump.cancel == cancel) {
      pump.cancel.reset();
      if (pump.state == PumpState::kInCoroutine) {
        if (failure && !stopping_) {
          pump.state = PumpState::kStopped;
          return Finish(RelayEnd{RelayEndReason::kCloseRequested, "relay failed", {}}, failure);
        }
        if (pump.end && !stopping_) return OnPumpEnded(pump);
        pump.state = PumpState::kStopped;
      }
    }
    if (stopping_ && Stopped()) WakeSupervisor();
  };
  asio::co_spawn(client_.executor(), std::move(work),
                 asio::bind_cancellation_slot(cancel->slot(), std::move(ended)));
}

void Relay::OnPumpEnded(Pump& pump) {
  pump.state = PumpState::kStopped;
  Finish(*std::move(pump.end));
}

void Relay::OnPumpStopped(Pump& pump) {
  pump.state = PumpState::kStopped;
  if (stopping_ && Stopped()) WakeSupervisor();
}

void Relay::OnStepFailed(Pump& pump) {
  // A receive or a coroutine the step started before it failed stops on
  // its own once the relay is stopping.
  if (pump.state == PumpState::kStepping) pump.state = PumpState::kStopped;
  Finish(RelayEnd{RelayEndReason::kCloseRequested, "relay failed", {}}, std::current_exception());
}

void Relay::Finish(RelayEnd end, std::exception_ptr failure) {
  if (!stopping_) {
    stopping_ = true;
    end_ = std::make_unique<RelayEnd>(std::move(end));
    failure_ = std::move(failure);
    StopPump(client_pump_, client_);
    // A parked server pump has nothing to stop.
    if (backend_) StopPump(server_pump_, backend_->stream);
    probe_.CancelSender();
  }
  if (Stopped()) WakeSupervisor();
}

void Relay::StopPump(Pump& pump, ByteStream& stream) {
  switch (pump.state) {
    case PumpState::kReceiving:
      stream.CancelReceive();
      break;
    case PumpState::kInCoroutine:
      if (pump.cancel) pump.cancel->emit(asio::cancellation_type::terminal);
      break;
    case PumpState::kStepping:
    case PumpState::kParked:
    case PumpState::kStopped:
      break;
  }
}

// --- The supervisor: the startup deadline, close requests, the probe. ---
//
// It runs from the startup timer until the first ReadyForQuery, and from a
// posted wake-up after that: an idle session keeps no timer and no pending
// wait. A handler of either kind holds the session; the owner hears of the
// end only when none is pending, so nothing refers to the relay then.

void Relay::ArmStartupTimer() {
  startup_timer_pending_ = true;
  startup_timer_->async_wait([this, keepalive = owner_.RelayKeepalive()](error_code) {
    startup_timer_pending_ = false;
    Supervise();
  });
}

void Relay::WakeSupervisor() {
  // After the hand-over to the owner nothing is left to supervise: a late
  // request (a close, say) must not end the relay twice.
  if (handed_over()) return;
  if (supervising_) {
    supervisor_rewake_ = true;
  } else if (startup_timer_pending_) {
    startup_timer_->cancel();
  } else if (!supervisor_posted_) {
    supervisor_posted_ = true;
    asio::post(client_.executor(), [this, keepalive = owner_.RelayKeepalive()] {
      supervisor_posted_ = false;
      Supervise();
    });
  }
}

void Relay::Supervise() {
  supervising_ = true;
  do {
    supervisor_rewake_ = false;
    if (!stopping_) {
      try {
        // Copied, not taken: a held request that a RESUME releases
        // meanwhile must still see it (see ContinueClient).
        if (close_requests_.due()) {
          Finish(*close_requests_.due());
        } else if (!tracker_.ready_seen() && std::chrono::steady_clock::now() >= limits_.startup_deadline) {
          Finish(RelayEnd{RelayEndReason::kStartupTimeout, "startup and authentication did not complete in time",
                          std::string(protocol::sqlstate::kConnectionFailure)});
        } else if (probe_.send_due()) {
          StartSendingProbe();
        }
      } catch (...) {
        Finish(RelayEnd{RelayEndReason::kCloseRequested, "relay failed", {}}, std::current_exception());
      }
    }
  } while (supervisor_rewake_);
  supervising_ = false;

  if (startup_timer_ && (stopping_ || tracker_.ready_seen())) {
    // The deadline no longer applies: the timer goes once its wait is over.
    if (startup_timer_pending_) {
      startup_timer_->cancel();
    } else {
      startup_timer_.reset();
    }
  } else if (startup_timer_ && !startup_timer_pending_) {
    ArmStartupTimer();
  }
  if (!stopping_ || handed_over() || !Stopped() || startup_timer_pending_ || supervisor_posted_) return;
  // The session may take a while yet to end (Terminate, closing the
  // backend); its buffers can serve other sessions meanwhile.
  client_buffer_.Release();
  server_buffer_.Release();
  // Locals, held across the call: the owner may let go of the relay in it.
  std::shared_ptr<void> owner = SessionKeeper::Release(kept_);
  const std::unique_ptr<RelayEnd> end = std::move(end_);
  owner_.OnRelayEnded(std::move(*end), failure_);
}

}  // namespace pgvalve::proxy
