#pragma once
// TOML text must be UTF-8, and it has to be checked before toml11 reads it:
// toml11 3.7 reads past the end of its buffer (ASan: heap-buffer-overflow
// in location::reset) when a 'literal string' holds an incomplete UTF-8
// sequence, e.g. a password saved in Latin-1. Every file pgvalve hands to
// toml11 goes through this check first.

#include <string_view>

#include "absl/status/status.h"

namespace pgvalve::config {

// OK when every byte of `text` starts or continues a UTF-8 sequence
// (overlong forms and surrogates are not looked for); otherwise
// InvalidArgument "<source>:<line>: syntax error: invalid UTF-8; ...",
// naming the line of the first byte that does not.
absl::Status CheckTomlUtf8(std::string_view text, std::string_view source);

}  // namespace pgvalve::config
