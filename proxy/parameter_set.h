#pragma once
// The ParameterStatus values a backend reported (server_version, TimeZone,
// application_name, ...), kept for the day a pooled backend changes hands
// and its parameters must be replayed to the new client. They live in one
// string of "name\0value\0" pairs: a dozen parameters then cost a few hundred
// bytes rather than a dozen map nodes, in every idle session. Names and
// values are C strings on the wire, so they never contain a NUL, and they
// change rarely (a SET of a reported setting), so a linear scan is fine.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pgvalve::proxy {

class ParameterSet {
 public:
  void Set(std::string_view name, std::string_view value);
  std::optional<std::string_view> Get(std::string_view name) const;
  size_t size() const;

  // Calls visit(name, value) for each parameter, in the order first set.
  template <typename Visit>
  void ForEach(Visit visit) const {
    size_t at = 0;
    while (at < entries_.size()) {
      const Entry entry = EntryAt(at);
      visit(entry.name, entry.value);
      at = entry.end;
    }
  }

 private:
  struct Entry {
    std::string_view name;
    std::string_view value;
    size_t end;  // offset just past the value's NUL
  };
  Entry EntryAt(size_t offset) const;
  std::optional<Entry> Find(std::string_view name, size_t* offset) const;

  std::string entries_;
};

}  // namespace pgvalve::proxy
