// The admin console's dispatcher: which row a statement runs (the longest
// verb it starts with), what an unknown statement or a caller without the
// role gets, and the one audit line every dispatched statement leaves. The
// commands run against a real ProxyServer that is never started: the
// dispatcher and the handlers used here need its state, not its sockets.

#include "admin/commands/command_table.h"

#include <boost/asio/use_future.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "admin/console/admin_credentials.h"
#include "admin/jobs/cutover_registry.h"
#include "admin/jobs/drain_registry.h"
#include "admin/limits/limit_counters.h"
#include "admin/limits/runtime_limits.h"
#include "admin/state_store.h"
#include "proxy/proxy_server.h"
#include "tests/unit/admin/status_matchers.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testutil::HasSqlState;

std::vector<Token> TokensOf(std::string_view query) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(query);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return tokens.ok() ? *std::move(tokens) : std::vector<Token>{};
}

// The verb FindCommand picks for `query` and how many tokens it took;
// "<none>" when no row matches.
std::pair<std::string, size_t> VerbOf(std::string_view query) {
  const std::vector<Token> tokens = TokensOf(query);
  size_t verb_tokens = 99;
  const CommandSpec* spec = FindCommand(tokens, verb_tokens);
  return {spec ? std::string(spec->verb) : "<none>", verb_tokens};
}

TEST(FindCommand, TheLongestVerbWins) {
  using Match = std::pair<std::string, size_t>;
  EXPECT_EQ(VerbOf("CANCEL DRAIN 3"), Match("CANCEL DRAIN", 2));
  EXPECT_EQ(VerbOf("CANCEL 3"), Match("CANCEL", 1));
  EXPECT_EQ(VerbOf("cancel Drain 3"), Match("CANCEL DRAIN", 2)) << "verbs ignore case";
  EXPECT_EQ(VerbOf("DISABLE ALL FORCE"), Match("DISABLE ALL", 2));
  EXPECT_EQ(VerbOf("DISABLE app"), Match("DISABLE", 1));
  EXPECT_EQ(VerbOf("ENABLE ALL"), Match("ENABLE ALL", 2));
  EXPECT_EQ(VerbOf("SHOW CLIENTS"), Match("SHOW CLIENTS", 2));
  EXPECT_EQ(VerbOf("SHOW DRAIN 7"), Match("SHOW DRAIN", 2));
  EXPECT_EQ(VerbOf("SHOW DRAINS"), Match("SHOW DRAINS", 2));
  EXPECT_EQ(VerbOf("KILL_CLIENT 5"), Match("KILL_CLIENT", 1));
  EXPECT_EQ(VerbOf("KILL 5"), Match("KILL", 1));
}

TEST(FindCommand, OnlyWordsSpellAVerb) {
  using Match = std::pair<std::string, size_t>;
  // A quoted identifier or a string is an argument, never part of a verb:
  // DISABLE "ALL" disables the database called ALL.
  EXPECT_EQ(VerbOf("DISABLE \"ALL\""), Match("DISABLE", 1));
  EXPECT_EQ(VerbOf("CANCEL \"DRAIN\" 3"), Match("CANCEL", 1));
  EXPECT_EQ(VerbOf("DISABLE 'ALL'"), Match("DISABLE", 1));
}

TEST(FindCommand, NoRowForAPartialOrUnknownVerb) {
  using Match = std::pair<std::string, size_t>;
  // There is no bare SHOW: it only starts two-word verbs.
  EXPECT_EQ(VerbOf("SHOW"), Match("<none>", 0));
  EXPECT_EQ(VerbOf("SHOW NOTHING"), Match("<none>", 0));
  EXPECT_EQ(VerbOf("FROBNICATE app"), Match("<none>", 0));
  EXPECT_EQ(VerbOf("\"SHOW\" CLIENTS"), Match("<none>", 0));
  size_t verb_tokens = 99;
  EXPECT_EQ(FindCommand({}, verb_tokens), nullptr);
  EXPECT_EQ(verb_tokens, 0u);
}

TEST(FindCommand, EveryRowIsFoundByItsOwnVerb) {
  for (const CommandSpec& spec : CommandTable()) {
    const std::vector<Token> tokens = TokensOf(spec.verb);
    size_t verb_tokens = 0;
    EXPECT_EQ(FindCommand(tokens, verb_tokens), &spec) << spec.verb;
    EXPECT_EQ(verb_tokens, tokens.size()) << spec.verb;
  }
}

// Collects the notices a command sends; the client is always there.
class RecordedNotices : public NoticeChannel {
 public:
  Awaitable<bool> Notice(std::string message, std::string /*detail*/) override {
    messages.push_back(std::move(message));
    co_return true;
  }
  std::vector<std::string> messages;
};

// Makes spdlog's default logger write bare messages into a string for the
// test's lifetime.
class CapturedLog {
 public:
  CapturedLog()
      : previous_(spdlog::default_logger()),
        logger_(std::make_shared<spdlog::logger>(
            "captured", std::make_shared<spdlog::sinks::ostream_sink_mt>(text_))) {
    logger_->set_pattern("%v");
    logger_->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger_);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::vector<std::string> Lines() {
    logger_->flush();
    std::vector<std::string> lines;
    std::istringstream in(text_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  // Lines that start as an audit line does.
  std::vector<std::string> AuditLines() {
    std::vector<std::string> audit;
    for (std::string& line : Lines()) {
      if (line.starts_with("admin audit:")) audit.push_back(std::move(line));
    }
    return audit;
  }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::logger> logger_;
};

class DispatchTest : public ::testing::Test {
 protected:
  DispatchTest()
      : server_(Config(), [this]() -> absl::StatusOr<config::Config> {
          ++reloads_;
          return Config();
        }),
        control_(server_.control_context().get_executor()),
        state_(std::nullopt),
        services_{server_.sessions(), server_.databases(), server_.config(), server_, control_, state_,
                  credentials_, drains_, cutovers_, limits_, limit_counters_, server_.access()} {}

  static config::Config Config() {
    config::Config config;
    config.source = "<dispatch test>";
    config.proxy.workers = 1;
    return config;
  }

  // Runs `query` (one statement) as `role` the way the admin session does.
  absl::StatusOr<CommandResult> Run(config::AdminRole role, std::string_view query) {
    const AdminCaller caller{.user = role == config::AdminRole::kAdmin ? "root" : "watcher",
                             .role = role,
                             .address = "127.0.0.1:5555"};
    CommandContext context{services_, caller, notices_};
    const std::vector<Token> tokens = TokensOf(query);
    std::future<absl::StatusOr<CommandResult>> result = proxy::asio::co_spawn(
        io_, Dispatch(context, tokens, StatementText(query, tokens)), proxy::asio::use_future);
    io_.restart();
    io_.run();
    return result.get();
  }
  absl::StatusOr<CommandResult> RunAsAdmin(std::string_view query) {
    return Run(config::AdminRole::kAdmin, query);
  }
  absl::StatusOr<CommandResult> RunAsMonitor(std::string_view query) {
    return Run(config::AdminRole::kMonitor, query);
  }

  int reloads_ = 0;
  proxy::asio::io_context io_;
  proxy::ProxyServer server_;
  upstream::ControlConnections control_;
  StateStore state_;
  AdminCredentials credentials_;
  DrainRegistry drains_;
  CutoverRegistry cutovers_;
  RuntimeLimits limits_;
  LimitCounters limit_counters_;
  AdminServices services_;
  RecordedNotices notices_;
};

TEST_F(DispatchTest, TheHandlerOfTheLongestVerbGetsTheRestAsArguments) {
  // CANCEL DRAIN 3 looks for drain job 3; CANCEL 3 for client session 3.
  absl::StatusOr<CommandResult> drain = RunAsAdmin("CANCEL DRAIN 3");
  EXPECT_THAT(drain, HasSqlState("42704"));
  EXPECT_THAT(drain.status().message(), HasSubstr("no drain job with id 3"));
  absl::StatusOr<CommandResult> session = RunAsAdmin("CANCEL 3");
  ASSERT_FALSE(session.ok());
  EXPECT_THAT(session.status().message(), HasSubstr("no client session with id 3"));

  absl::StatusOr<CommandResult> version = RunAsMonitor("SHOW VERSION");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->command_tag, "SHOW");
  EXPECT_THAT(RunAsMonitor("SHOW VERSION please"), HasSqlState("42601"))
      << "what follows the verb is the handler's to refuse";
}

TEST_F(DispatchTest, AnUnknownStatementIs42601AndNamesIt) {
  for (std::string_view query : {"FROBNICATE the \"Widgets\"", "SHOW", "SHOW NOTHING"}) {
    absl::StatusOr<CommandResult> result = RunAsAdmin(query);
    EXPECT_THAT(result, HasSqlState("42601")) << query;
    EXPECT_THAT(result.status().message(),
                HasSubstr("unknown admin command \"" + std::string(query) + "\""));
  }
}

TEST_F(DispatchTest, AMonitorIsRefusedAnAdminCommandWith42501AndItDoesNotRun) {
  absl::StatusOr<CommandResult> reload = RunAsMonitor("RELOAD");
  EXPECT_THAT(reload, HasSqlState("42501"));
  EXPECT_THAT(reload.status().message(), HasSubstr("RELOAD needs the admin role"));
  EXPECT_THAT(reload.status().message(), HasSubstr("\"watcher\""));
  EXPECT_EQ(reloads_, 0) << "RELOAD's handler ran for a monitor";

  EXPECT_THAT(RunAsMonitor("DISABLE app FORCE"), HasSqlState("42501"));
  EXPECT_FALSE(server_.databases().Contains("app")) << "DISABLE's handler ran for a monitor";
  // Refused before its arguments are read: the same answer for nonsense.
  EXPECT_THAT(RunAsMonitor("SHUTDOWN NOW PLEASE"), HasSqlState("42501"));

  // The same statements as an admin do run.
  EXPECT_TRUE(RunAsAdmin("RELOAD").ok());
  EXPECT_EQ(reloads_, 1);
  EXPECT_TRUE(RunAsAdmin("DISABLE app FORCE").ok());
  EXPECT_TRUE(server_.databases().Gate("app")->Snapshot().disabled.has_value());
  EXPECT_TRUE(notices_.messages.empty());
}

TEST_F(DispatchTest, EveryStatementLeavesOneAuditLineWithOutsideTextEscaped) {
  CapturedLog log;
  // A string literal may hold a newline: printed raw, the rest of it would
  // read as an audit line of its own, and the escape would recolour an
  // operator's terminal.
  const std::string forged =
      "FROBNICATE 'x\nadmin audit: user=\"root\" from=10.0.0.1 command=\"RELOAD\" outcome=ok "
      "\x1b[2J'";
  ASSERT_FALSE(RunAsAdmin(forged).ok());
  ASSERT_FALSE(RunAsMonitor("RELOAD").ok());
  ASSERT_TRUE(RunAsMonitor("SHOW VERSION").ok());

  const std::vector<std::string> audit = log.AuditLines();
  ASSERT_EQ(audit.size(), 3u) << ::testing::PrintToString(log.Lines());
  EXPECT_EQ(audit[0],
            "admin audit: user=\"root\" from=127.0.0.1:5555 command=\"FROBNICATE 'x\\x0aadmin "
            "audit: user=\\\"root\\\" from=10.0.0.1 command=\\\"RELOAD\\\" outcome=ok \\x1b[2J'\" "
            "outcome=error 42601: unknown admin command \\\"FROBNICATE 'x\\x0aadmin audit: "
            "user=\\\"root\\\" from=10.0.0.1 command=\\\"RELOAD\\\" outcome=ok \\x1b[2J'\\\"; "
            "SHOW HELP lists them");
  EXPECT_THAT(audit[1], StartsWith("admin audit: user=\"watcher\" from=127.0.0.1:5555 "
                                   "command=\"RELOAD\" outcome=error 42501: permission denied"));
  EXPECT_EQ(audit[2],
            "admin audit: user=\"watcher\" from=127.0.0.1:5555 command=\"SHOW VERSION\" outcome=ok");
  for (const std::string& line : log.Lines()) {
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << "a raw escape reached the log: " << line;
  }
}

}  // namespace
}  // namespace pgvalve::admin
