#pragma once

#include <cstddef>
#include <string>

namespace pgvalve::test {

// Whole contents of a file; "" when it cannot be read (a log that was never
// written is not worth a second error).
std::string ReadWholeFile(const std::string& path);

// The last `max_lines` lines of a file, for failure messages.
std::string TailOfFile(const std::string& path, size_t max_lines);

}  // namespace pgvalve::test
