#include "proxy/parameter_set.h"

namespace pgvalve::proxy {

ParameterSet::Entry ParameterSet::EntryAt(size_t offset) const {
  const std::string_view all(entries_);
  const size_t name_end = all.find('\0', offset);
  const size_t value_end = all.find('\0', name_end + 1);
  return {all.substr(offset, name_end - offset), all.substr(name_end + 1, value_end - name_end - 1),
          value_end + 1};
}

std::optional<ParameterSet::Entry> ParameterSet::Find(std::string_view name, size_t* offset) const {
  size_t at = 0;
  while (at < entries_.size()) {
    const Entry entry = EntryAt(at);
    if (entry.name == name) {
      *offset = at;
      return entry;
    }
    at = entry.end;
  }
  return std::nullopt;
}

void ParameterSet::Set(std::string_view name, std::string_view value) {
  size_t offset = 0;
  if (std::optional<Entry> existing = Find(name, &offset)) {
    if (existing->value == value) return;
    // Rewritten in place so the order of first appearance is kept.
    const size_t value_offset = offset + name.size() + 1;
    entries_.replace(value_offset, existing->value.size(), value);
    return;
  }
  entries_.append(name).push_back('\0');
  entries_.append(value).push_back('\0');
}

std::optional<std::string_view> ParameterSet::Get(std::string_view name) const {
  size_t offset = 0;
  std::optional<Entry> entry = Find(name, &offset);
  if (!entry) return std::nullopt;
  return entry->value;
}

size_t ParameterSet::size() const {
  size_t count = 0;
  ForEach([&count](std::string_view, std::string_view) { ++count; });
  return count;
}

}  // namespace pgvalve::proxy
