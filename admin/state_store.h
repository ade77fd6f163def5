#pragma once
// The lasting part of runtime state (DISABLE, PAUSE and SWITCH per
// database, DISABLE ALL, limits set with SET), written to a file
// after every change and re-applied at start, so an operator's decision
// survives a restart of pgvalve.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "admin/limits/runtime_limits.h"
#include "proxy/database_registry.h"

namespace pgvalve::admin {

class StateStore {
 public:
  // Without a path nothing is persisted.
  explicit StateStore(std::optional<std::string> path) : path_(std::move(path)) {}

  const std::optional<std::string>& path() const { return path_; }

  // Applies the saved state to `databases` (marked as coming from the state
  // file) and `limits`. A missing file is an empty state; a malformed one
  // is an error naming the file.
  absl::Status Load(proxy::DatabaseRegistry& databases, RuntimeLimits& limits) const;

  // Writes the state of every database and every runtime limit
  // atomically: a temporary file, fsync, rename over the old one, fsync of
  // the directory.
  absl::Status Save(const proxy::DatabaseRegistry& databases, const RuntimeLimits& limits) const;

 private:
  std::optional<std::string> path_;
};

}  // namespace pgvalve::admin
