#pragma once
// Reading pgvalve.toml. The layout, with every key optional unless noted:
//
//   log_level = "info"                 # trace|debug|info|warn|error
//   [proxy]
//   listen = ["127.0.0.1:6432"]        # "host:port" or "[::1]:6432"
//   unix_socket_dir = "/tmp"
//   max_client_connections = 1000
//   max_startup_connections = 256      # connections not yet past startup
//   max_startup_connections_per_address = 256
//   workers = 0                        # 0: one per core
//   startup_timeout = "30s"            # "250ms", "5s", "2m", "1h" or an
//   hold_timeout = "60s"               #   integer of milliseconds
//   terminate_wait = "5s"
//   shutdown_timeout = "60s"           # smart shutdown, then close the rest
//   max_message_size = 1073741824      # bytes; client messages only
//   [[proxy.rules]]                    # who may connect; see access_rule.h
//   name = "office"                    # default "proxy rule N"
//   databases = ["*"]                  # exact names or "*"
//   users = ["*"]
//   sources = ["10.0.0.0/8", "unix"]   # default: anywhere
//   tls = "any"                        # or "required", "client_cert"
//   action = "allow"                   # required; or "deny"
//   [admin]
//   listen = ["127.0.0.1:6433"]
//   unix_socket_dir = "/tmp"
//   state_file = "/var/lib/pgvalve/state.json"
//   [[admin.users]]
//   name = "admin"                     # required
//   password = "change-me"             # required; or a SCRAM-SHA-256 verifier
//   role = "admin"                     # or "monitor"
//   [[admin.rules]]                    # as [[proxy.rules]], for the console
//   [upstreams.NAME]
//   host = "127.0.0.1"                 # or a unix-socket directory
//   port = 5432
//   connect_timeout = "5s"
//   control_user = "postgres"          # then control_password or
//   control_passfile = "/path"         #   control_passfile, not both
//   control_dbname = "postgres"
//   [databases.NAME]                   # NAME "*" matches any other database
//   upstream = "NAME"                  # required
//
// Unknown keys are errors: a misspelt key must not silently fall back to a
// default.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace pgvalve::config {

// Parses and validates. `source_name` prefixes every error and becomes
// Config::source.
absl::StatusOr<Config> ParseConfigText(std::string_view toml_text,
                                       std::string_view source_name);

// Reads `path`, then as ParseConfigText with the path as source.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Syntax, types and unknown keys only, without Validate: for callers that
// complete the result (command-line overrides) and validate it afterwards.
absl::StatusOr<Config> ReadConfigText(std::string_view toml_text,
                                      std::string_view source_name);
absl::StatusOr<Config> ReadConfigFile(const std::string& path);

}  // namespace pgvalve::config
