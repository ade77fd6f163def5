#include "admin/commands/command_table.h"

#include <spdlog/spdlog.h>

#include "admin/handlers/access_rule_commands.h"
#include "admin/handlers/cutover_commands.h"
#include "admin/handlers/database_commands.h"
#include "admin/handlers/drain_commands.h"
#include "admin/handlers/fleet_commands.h"
#include "admin/handlers/limit_commands.h"
#include "admin/handlers/server_commands.h"
#include "admin/handlers/session_commands.h"
#include "admin/handlers/show_commands.h"
#include "admin/handlers/switch_commands.h"
#include "fmt/format.h"
#include "protocol/protocol_error.h"
#include "protocol/sqlstate.h"
#include "proxy/log_text.h"
#include "proxy/status_text.h"

namespace pgvalve::admin {
namespace {

using config::AdminRole;

// Aliases that mean the same in PgBouncer are separate rows pointing at the
// same handler, so SHOW HELP lists them too.
constexpr CommandSpec kCommands[] = {
    {"SHOW CLIENTS", "[DATABASE db | ALL] [filter]",
     "client sessions and the backends they sit on; filter: [STATE s [, ...]] [RUNNING | IDLE | "
     "IN TRANSACTION | CONNECTED LONGER THAN 'd'] [USER u [, ...]] [APPLICATION 'pattern'] "
     "[CLIENT 'cidr'] [EXCEPT USER u [, ...]]",
     AdminRole::kMonitor, ShowClients},
    {"SHOW SESSIONS", "[DATABASE db | ALL] [filter]", "alias of SHOW CLIENTS", AdminRole::kMonitor,
     ShowClients},
    {"SHOW DATABASES", "", "databases, their upstream, state and session counts",
     AdminRole::kMonitor, ShowDatabases},
    {"SHOW POOLS", "", "alias of SHOW DATABASES", AdminRole::kMonitor, ShowDatabases},
    {"SHOW UPSTREAMS", "", "upstream servers and their control connections", AdminRole::kMonitor,
     ShowUpstreams},
    {"SHOW STATS", "", "per database: transactions, queries, bytes, average transaction time",
     AdminRole::kMonitor, ShowStats},
    {"SHOW CONFIG", "", "the configuration in effect", AdminRole::kMonitor, ShowConfig},
    {"SHOW RULES", "",
     "the access rules of the proxy and admin listeners in the order they are tried, and how many "
     "connections each has decided; the last row of each counts clients no rule matched",
     AdminRole::kMonitor, ShowRules},
    {"SHOW VERSION", "", "pgvalve's version", AdminRole::kMonitor, ShowVersion},
    {"SHOW FLEET", "", "the instances of this fleet as etcd lists them ([fleet])", AdminRole::kMonitor,
     ShowFleet},
    {"SHOW HELP", "", "this list", AdminRole::kMonitor, ShowHelp},
    {"SHOW BACKENDS", "db", "every backend on db as the upstream's pg_stat_activity shows it",
     AdminRole::kMonitor, ShowBackends},
    {"DISABLE", "db [FORCE] [EXCEPT ROLE r [, ...]] [REASON 'text']",
     "refuse new sessions to db (FATAL 55000); existing sessions go on. A db pgvalve does not "
     "know (no route of its own, no session, no state) is refused with 3D000 unless FORCE",
     AdminRole::kAdmin, Disable},
    {"DISABLE ALL", "[FORCE] [EXCEPT db [, ...]] [EXCEPT ROLE r [, ...]] [REASON 'text']",
     "refuse new sessions to every database, configured or not, but those EXCEPT names",
     AdminRole::kAdmin, DisableAll},
    {"ENABLE", "db", "accept new sessions to db again (DISABLE ALL still applies)", AdminRole::kAdmin,
     Enable},
    {"ENABLE ALL", "", "lift DISABLE ALL; databases disabled one by one stay disabled",
     AdminRole::kAdmin, EnableAll},
    {"PAUSE", "db [FORCE] [TIMEOUT duration]",
     "hold new sessions and requests at transaction boundaries; returns when db is quiet. A db "
     "pgvalve does not know is refused with 3D000 unless FORCE",
     AdminRole::kAdmin, Pause},
    {"RESUME", "db [FORCE]",
     "release everything held on db, in order. A db pgvalve does not know is refused with 3D000 "
     "unless FORCE",
     AdminRole::kAdmin, Resume},
    {"CANCEL", "id | BACKEND pid | DATABASE db | ALL [filter] [INCLUDING DIRECT] [DRY RUN]",
     "send a CancelRequest to running queries and report whether each ended",
     AdminRole::kAdmin, Cancel},
    {"TERMINATE", "id | BACKEND pid | DATABASE db | ALL [filter] [INCLUDING DIRECT] [DRY RUN]",
     "pg_terminate_backend through the control connection, verified against pg_stat_activity",
     AdminRole::kAdmin, Terminate},
    {"KILL", "id | BACKEND pid | DATABASE db | ALL [filter] [DRY RUN]",
     "terminate the backend and close the client now", AdminRole::kAdmin, Kill},
    {"KILL_CLIENT", "id", "alias of KILL id", AdminRole::kAdmin, KillClient},
    {"DRAIN",
     "db [GRACE d] [THEN CANCEL | TERMINATE | WAIT] [TIMEOUT d] [INCLUDING DIRECT] "
     "[EXCEPT ROLE r [, ...]] [NOWAIT] [DRY RUN]",
     "refuse new sessions, close the others at their transaction ends, escalate after GRACE, "
     "verify against pg_stat_activity",
     AdminRole::kAdmin, Drain},
    {"SHOW DRAINS", "", "drain jobs and their progress", AdminRole::kMonitor, ShowDrains},
    {"SHOW DRAIN", "job_id", "the per-session report of one drain", AdminRole::kMonitor, ShowDrain},
    {"CANCEL DRAIN", "job_id", "stop a drain; the database stays disabled", AdminRole::kAdmin,
     CancelDrain},
    {"CUTOVER",
     "db TO upstream [MODE PHYSICAL | LOGICAL] [PROMOTE] [MAX LAG 'size'] [GRACE d] "
     "[THEN CANCEL | TERMINATE] [TIMEOUT d] [ON TIMEOUT ABORT | PROCEED] [SYNC SEQUENCES] "
     "[INCLUDING DIRECT] [NOWAIT] [DRY RUN]",
     "move db to another server live: preflight, hold at transaction boundaries, catch up, "
     "promote, switch, resume; rolls back on any failure before the switch",
     AdminRole::kAdmin, Cutover},
    {"SHOW CUTOVERS", "", "cutovers, their step, outcome and hold window", AdminRole::kMonitor, ShowCutovers},
    {"SHOW CUTOVER", "id", "the report of one cutover", AdminRole::kMonitor, ShowCutover},
    {"CANCEL CUTOVER", "id", "roll a running cutover back (only before its switch)", AdminRole::kAdmin,
     CancelCutover},
    {"SWITCH", "db TO upstream [FORCE] | db TO DEFAULT",
     "new sessions for db go to upstream from now on; existing sessions stay where they are. "
     "Refuses an upstream that cannot be reached or is in recovery unless FORCE; kept in the "
     "state file",
     AdminRole::kAdmin, Switch},
    {"SET", "db.limit = 'duration' [EXCEPT USER u [, ...]] [FORCE]",
     "set a limit of db (\"*\": every database without its own value): query_timeout, "
     "query_timeout_grace, idle_in_transaction_timeout or client_idle_timeout; 0 turns it off. "
     "Wins over the config file; kept in the state file",
     AdminRole::kAdmin, SetLimit},
    {"SET LOG_LEVEL", "[= | TO] trace | debug | info | warn | error",
     "the log level from now until RESET LOG_LEVEL or a restart (a RELOAD keeps it)", AdminRole::kAdmin,
     SetLogLevel},
    {"RESET LOG_LEVEL", "", "the log level back to the configuration's log_level", AdminRole::kAdmin,
     ResetLogLevel},
    {"RESET", "db.limit | db.ALL",
     "drop limits set with SET; the config file's values (or \"*\"'s) apply again",
     AdminRole::kAdmin, ResetLimit},
    {"SHOW LIMITS", "",
     "limits set per database, their exceptions, where each was set, and the cancels, "
     "terminations and closes each has done",
     AdminRole::kMonitor, ShowLimits},
    {"RELOAD", "", "re-read the configuration; running sessions keep their upstream",
     AdminRole::kAdmin, Reload},
    {"SHUTDOWN", "[SMART | FAST]",
     "SMART: stop accepting, exit when clients are gone; FAST: end every session now",
     AdminRole::kAdmin, Shutdown},
};

// How many of `statement`'s first tokens spell `verb` (0 if they don't).
size_t MatchVerb(std::span<const Token> statement, std::string_view verb) {
  size_t used = 0;
  while (!verb.empty()) {
    size_t space = verb.find(' ');
    std::string_view word = verb.substr(0, space);
    if (used >= statement.size() || !IsKeyword(statement[used], word)) return 0;
    ++used;
    verb = space == std::string_view::npos ? std::string_view() : verb.substr(space + 1);
  }
  return used;
}

bool Allows(AdminRole caller, AdminRole required) {
  return caller == AdminRole::kAdmin || required == AdminRole::kMonitor;
}

}  // namespace

std::span<const CommandSpec> CommandTable() { return kCommands; }

const CommandSpec* FindCommand(std::span<const Token> statement, size_t& verb_tokens) {
  const CommandSpec* best = nullptr;
  verb_tokens = 0;
  for (const CommandSpec& spec : kCommands) {
    size_t used = MatchVerb(statement, spec.verb);
    if (used > verb_tokens) {
      best = &spec;
      verb_tokens = used;
    }
  }
  return best;
}

Awaitable<absl::StatusOr<CommandResult>> Dispatch(CommandContext& context,
                                                  std::span<const Token> statement,
                                                  std::string_view statement_text) {
  size_t verb_tokens = 0;
  const CommandSpec* spec = FindCommand(statement, verb_tokens);
  absl::StatusOr<CommandResult> result;
  if (spec == nullptr) {
    result = protocol::ErrorWithSqlState(
        protocol::sqlstate::kSyntaxError,
        fmt::format("unknown admin command \"{}\"; SHOW HELP lists them", statement_text));
  } else if (!Allows(context.caller.role, spec->required_role)) {
    result = protocol::ErrorWithSqlState(
        protocol::sqlstate::kInsufficientPrivilege,
        fmt::format("permission denied: {} needs the admin role; \"{}\" is a monitor",
                    spec->verb, context.caller.user));
  } else {
    ArgumentCursor arguments(statement.subspan(verb_tokens));
    result = co_await spec->handler(context, arguments);
  }
  // One audit line per command: who, from where, what, and how it ended.
  spdlog::info("admin audit: user={} from={} command={} outcome={}",
               proxy::QuoteForLog(context.caller.user), context.caller.address,
               proxy::QuoteForLog(statement_text),
               result.ok() ? std::string("ok")
                           : fmt::format("error {}: {}", protocol::SqlStateOf(result.status()),
                                         proxy::EscapeForLog(proxy::StatusText(result.status()))));
  co_return result;
}

}  // namespace pgvalve::admin
