#pragma once
// The admin console's commands, one row each: verb, synopsis, the role it
// needs and its handler. Authorization is checked here, in Dispatch, and
// nowhere else.

#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "admin/commands/argument_cursor.h"
#include "admin/commands/command_context.h"
#include "admin/commands/command_tokenizer.h"

namespace pgvalve::admin {

using CommandHandler = Awaitable<absl::StatusOr<CommandResult>> (*)(CommandContext&,
                                                                    ArgumentCursor&);

struct CommandSpec {
  std::string_view verb;      // one or two words, upper case: "SHOW CLIENTS"
  std::string_view synopsis;  // arguments, for SHOW HELP
  std::string_view description;
  config::AdminRole required_role;
  CommandHandler handler;
};

std::span<const CommandSpec> CommandTable();

// The command whose verb the statement starts with (longest match), and
// how many tokens the verb took; nullptr when none matches.
const CommandSpec* FindCommand(std::span<const Token> statement, size_t& verb_tokens);

// Runs one statement: finds the command, checks the caller's role, runs the
// handler and writes the audit line.
Awaitable<absl::StatusOr<CommandResult>> Dispatch(CommandContext& context,
                                                  std::span<const Token> statement,
                                                  std::string_view statement_text);

}  // namespace pgvalve::admin
