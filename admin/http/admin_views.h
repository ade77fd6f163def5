#pragma once
// The HTTP endpoint's JSON views (/v1/databases, /v1/clients, ...): the
// admin console's SHOW commands, run through its own dispatcher (the same
// handlers, role checks and audit line as from psql), their rows as JSON
// objects keyed by the same column names. Its commands (POST /v1/reload)
// run the same way.

#include <optional>
#include <string>
#include <string_view>

#include "admin/commands/command_context.h"
#include "admin/commands/result_set.h"
#include "admin/http/http_reply.h"

namespace pgvalve::admin {

// The SHOW statement behind a view's path; nullopt when `path` names none.
std::optional<std::string_view> ViewStatement(std::string_view path);

// One object per row: integers and floats as numbers, booleans as true or
// false, NULL as null, everything else as strings.
std::string ResultSetJson(const ResultSet& rows);

// Control thread only, as the console.
class AdminViews {
 public:
  explicit AdminViews(AdminServices& services) : services_(services) {}

  // 200 with the rows, or {"command": TAG} for a command without rows; a
  // refusal as the console words it, in JSON, with 403 for a role that may
  // not run it.
  Awaitable<HttpReply> Run(std::string_view statement, const AdminCaller& caller);

 private:
  AdminServices& services_;
};

}  // namespace pgvalve::admin
