#pragma once
// What the HTTP endpoint accepts from a client, shared with its fuzzer.

#include <cstddef>

namespace pgvalve::admin {

// A request is its head only; a larger one is answered 431.
inline constexpr size_t kMaxHttpHeaderBytes = 8 * 1024;

}  // namespace pgvalve::admin
