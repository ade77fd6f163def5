#pragma once
// Reading a listener's [[proxy.rules]] or [[admin.rules]] (layout in
// access_rule.h), used only by config_file.cc. Values are parsed here
// (CIDRs, tls, action); emptiness and unique names are Validate's.

#include <vector>

#include "config/access_rule.h"
#include "config/config_error.h"
#include "config/toml_reader.h"

namespace pgvalve::config {

// Leaves `rules` (the defaults) alone when `listener` has no "rules" key.
void ReadAccessRules(TomlTable& listener, FirstError& errors, std::vector<AccessRule>& rules);

}  // namespace pgvalve::config
