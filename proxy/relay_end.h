#pragma once
// How a relay ended: what ClientSession logs, tells the client and records.

#include <string>

namespace pgvalve::proxy {

enum class RelayEndReason {
  kClientDisconnected,   // EOF or reset without a Terminate
  kClientTerminated,     // the client sent Terminate, which was forwarded
  kServerDisconnected,   // the server closed; everything it sent was forwarded
  kClientProtocolError,  // the client broke framing
  kServerProtocolError,  // the server broke framing or sent a bad key/status
  kCloseRequested,       // an operator or shutdown asked for it
  kStartupTimeout,
};

struct RelayEnd {
  RelayEndReason reason;
  std::string detail;    // for logs and for the client's error message
  std::string sqlstate;  // set for errors the client should be told
};

}  // namespace pgvalve::proxy
