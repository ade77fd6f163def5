#include "tests/support/log_file.h"

#include <deque>
#include <fstream>
#include <sstream>

namespace pgvalve::test {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string TailOfFile(const std::string& path, size_t max_lines) {
  std::ifstream in(path);
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(std::move(line));
    if (lines.size() > max_lines) lines.pop_front();
  }
  std::string tail;
  for (const std::string& line : lines) tail.append(line).append("\n");
  return tail;
}

}  // namespace pgvalve::test
