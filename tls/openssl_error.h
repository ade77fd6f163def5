#pragma once
// OpenSSL reports failures through a per-thread queue of packed codes; these
// turn it into text for a log line or a client's error message.

#include <string>

namespace pgvalve::tls {

// Empties this thread's error queue and returns its reasons, first to last,
// joined by "; " ("no error reported" when it was empty).
std::string TakeOpenSslErrors();

}  // namespace pgvalve::tls
