#include "config/command_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace pgvalve::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<CommandLine> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "pgvalve");
  return ParseCommandLine(static_cast<int>(args.size()), args.data());
}

std::string ErrorOf(std::vector<const char*> args) {
  const absl::StatusOr<CommandLine> cmd = Parse(std::move(args));
  if (cmd.ok()) return "<accepted>";
  EXPECT_EQ(cmd.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(cmd.status().message());
}

TEST(ParseCommandLineTest, NothingMeansRunWithoutFile) {
  const absl::StatusOr<CommandLine> cmd = Parse({});
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_EQ(cmd->action, CommandLineAction::kRun);
  EXPECT_FALSE(cmd->config_path.has_value());
  EXPECT_FALSE(cmd->HasOverrides());
}

TEST(ParseCommandLineTest, Actions) {
  EXPECT_EQ(Parse({"--config", "a.toml"})->config_path, "a.toml");
  EXPECT_EQ(Parse({"--config=a.toml"})->config_path, "a.toml");
  const absl::StatusOr<CommandLine> check = Parse({"--check-config=b.toml"});
  EXPECT_EQ(check->action, CommandLineAction::kCheckConfig);
  EXPECT_EQ(check->config_path, "b.toml");
  EXPECT_EQ(Parse({"--check-config", "b.toml"})->action,
            CommandLineAction::kCheckConfig);
  EXPECT_EQ(Parse({"--version"})->action, CommandLineAction::kPrintVersion);
  EXPECT_EQ(Parse({"--help"})->action, CommandLineAction::kPrintHelp);
  EXPECT_EQ(Parse({"-h"})->action, CommandLineAction::kPrintHelp);
  EXPECT_EQ(Parse({"--config", "a.toml", "--version", "--help"})->action,
            CommandLineAction::kPrintHelp);
}

TEST(ParseCommandLineTest, EveryOverrideInBothForms) {
  for (const bool inline_form : {false, true}) {
    std::vector<std::string> storage;
    const auto flag = [&](std::string name, std::string value) {
      if (inline_form) {
        storage.push_back(absl::StrCat(name, "=", value));
      } else {
        storage.push_back(std::move(name));
        storage.push_back(std::move(value));
      }
    };
    flag("--listen", "127.0.0.1:7000");
    flag("--listen", "[::1]:7001");
    flag("--unix-socket-dir", "/run/a");
    flag("--admin-listen", "127.0.0.1:7002");
    flag("--admin-unix-socket-dir", "/run/b");
    flag("--workers", "8");
    flag("--max-client-connections", "20");
    flag("--log-level", "debug");
    flag("--state-file", "/var/lib/s.json");
    flag("--upstream", "db.internal:5433");
    flag("--admin-user", "ops:secret");
    flag("--admin-user", "graf:a:b:monitor");
    std::vector<const char*> args;
    for (const std::string& arg : storage) args.push_back(arg.c_str());
    const absl::StatusOr<CommandLine> cmd = Parse(args);
    ASSERT_TRUE(cmd.ok()) << cmd.status();
    EXPECT_THAT(cmd->listen, ElementsAre(ListenAddress{"127.0.0.1", 7000},
                                         ListenAddress{"::1", 7001}));
    EXPECT_EQ(cmd->unix_socket_dir, "/run/a");
    EXPECT_THAT(cmd->admin_listen,
                ElementsAre(ListenAddress{"127.0.0.1", 7002}));
    EXPECT_EQ(cmd->admin_unix_socket_dir, "/run/b");
    EXPECT_EQ(cmd->workers, 8u);
    EXPECT_EQ(cmd->max_client_connections, 20u);
    EXPECT_EQ(cmd->log_level, "debug");
    EXPECT_EQ(cmd->state_file, "/var/lib/s.json");
    ASSERT_TRUE(cmd->upstream.has_value());
    EXPECT_EQ(cmd->upstream->host, "db.internal");
    EXPECT_EQ(cmd->upstream->port, 5433);
    ASSERT_EQ(cmd->admin_users.size(), 2u);
    EXPECT_EQ(cmd->admin_users[0].name, "ops");
    EXPECT_EQ(cmd->admin_users[0].password, "secret");
    EXPECT_EQ(cmd->admin_users[0].role, AdminRole::kAdmin);
    EXPECT_EQ(cmd->admin_users[1].name, "graf");
    EXPECT_EQ(cmd->admin_users[1].password, "a:b");
    EXPECT_EQ(cmd->admin_users[1].role, AdminRole::kMonitor);
    EXPECT_TRUE(cmd->HasOverrides());
  }
}

TEST(ParseCommandLineTest, ValueStartingWithDashesNeedsEqualsForm) {
  const absl::StatusOr<CommandLine> cmd = Parse({"--admin-user=a:--pw"});
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_EQ(cmd->admin_users[0].password, "--pw");
  EXPECT_EQ(ErrorOf({"--config", "--workers", "2"}),
            "--config: missing value FILE");
}

TEST(ParseCommandLineTest, AdminUserForms) {
  const std::string verifier =
      "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"
      "ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=:"
      "PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0=";
  const std::string with_role = absl::StrCat("ops:", verifier, ":monitor");
  const std::string without_role = absl::StrCat("ops:", verifier);
  EXPECT_EQ(Parse({"--admin-user", with_role.c_str()})->admin_users[0].password,
            verifier);
  EXPECT_EQ(
      Parse({"--admin-user", without_role.c_str()})->admin_users[0].password,
      verifier);
  EXPECT_EQ(ErrorOf({"--admin-user", "ops:pw:superuser"}),
            "--admin-user: the part after the last ':' is not a ROLE (admin "
            "or monitor); a password containing ':' needs an explicit :ROLE");
  EXPECT_EQ(
      Parse({"--admin-user", "ops:pw:word:admin"})->admin_users[0].password,
      "pw:word");
  EXPECT_EQ(Parse({"--admin-user", "ops:pw:Word9"})->admin_users[0].password,
            "pw:Word9");
  EXPECT_EQ(ErrorOf({"--admin-user", "ops"}),
            "--admin-user: expected NAME:PASSWORD[:ROLE]");
  EXPECT_EQ(ErrorOf({"--admin-user", ":pw"}),
            "--admin-user: NAME must not be empty");
  EXPECT_EQ(ErrorOf({"--admin-user", "ops::monitor"}),
            "--admin-user: PASSWORD must not be empty");
  EXPECT_THAT(ErrorOf({"--admin-user", "ops:hunter:two"}),
              Not(HasSubstr("hunter")));
  EXPECT_THAT(ErrorOf({"--admin-user", "ops:hunter:two"}),
              Not(HasSubstr("two")));
}

TEST(ParseCommandLineTest, ErrorsNameTheFlag) {
  EXPECT_EQ(ErrorOf({"--listen", "foo"}),
            "--listen: expected ADDR:PORT, got \"foo\"");
  EXPECT_EQ(ErrorOf({"--admin-listen=1.2.3.4:0"}),
            "--admin-listen: port must be between 1 and 65535, got "
            "\"1.2.3.4:0\"");
  EXPECT_EQ(ErrorOf({"--upstream", "db"}),
            "--upstream: expected HOST:PORT, got \"db\"");
  EXPECT_EQ(ErrorOf({"--workers", "-1"}),
            "--workers: expected an integer between 0 and 1024, got \"-1\"");
  EXPECT_EQ(ErrorOf({"--max-client-connections=0"}),
            "--max-client-connections: expected an integer between 1 and "
            "1000000, got \"0\"");
  EXPECT_EQ(ErrorOf({"--log-level", "loud"}),
            "--log-level: expected one of trace|debug|info|warn|error, got "
            "\"loud\"");
  EXPECT_EQ(ErrorOf({"--state-file="}),
            "--state-file: expected a path, got \"\"");
  EXPECT_EQ(ErrorOf({"--workers", "1", "--workers", "2"}),
            "--workers: given more than once");
  EXPECT_EQ(ErrorOf({"--config", "a", "--check-config", "b"}),
            "--check-config: --config and --check-config both name a file; "
            "use one");
  EXPECT_EQ(ErrorOf({"--config", "a", "--config", "b"}),
            "--config: given more than once");
}

TEST(ParseCommandLineTest, UnknownAndMalformedArguments) {
  EXPECT_EQ(ErrorOf({"--listne", "a:1"}), "unknown flag \"--listne\"");
  EXPECT_EQ(ErrorOf({"--bogus=1"}), "unknown flag \"--bogus\"");
  EXPECT_EQ(ErrorOf({"-x"}), "unknown flag \"-x\"");
  EXPECT_EQ(ErrorOf({"pgvalve.toml"}), "unexpected argument \"pgvalve.toml\"");
  EXPECT_EQ(ErrorOf({"--listen"}), "--listen: missing value ADDR:PORT");
  EXPECT_EQ(ErrorOf({"--help=yes"}), "--help: takes no value");
}

TEST(HelpTextTest, MentionsEveryFlag) {
  const std::string help = HelpText();
  for (const char* flag :
       {"--config FILE", "--check-config FILE", "--version", "--help",
        "--listen ADDR:PORT", "--unix-socket-dir DIR", "--admin-listen",
        "--admin-unix-socket-dir", "--workers N", "--max-client-connections",
        "--log-level LEVEL", "--state-file PATH", "--upstream HOST:PORT",
        "--admin-user NAME:PASSWORD[:ROLE]"}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
}

TEST(BuildConfigTest, NeedsAFileOrAnUpstream) {
  const absl::StatusOr<Config> config = BuildConfig(*Parse({"--workers=2"}));
  EXPECT_EQ(config.status().message(),
            "no configuration: pass --config FILE or --upstream HOST:PORT "
            "(see --help)");
}

TEST(BuildConfigTest, QuickStart) {
  const absl::StatusOr<Config> config = BuildConfig(
      *Parse({"--upstream", "127.0.0.1:5432", "--listen", "0.0.0.0:6432"}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, "<command line>");
  EXPECT_THAT(config->proxy.listen,
              ElementsAre(ListenAddress{"0.0.0.0", 6432}));
  const UpstreamConfig* upstream = config->UpstreamFor("anydb");
  ASSERT_NE(upstream, nullptr);
  EXPECT_EQ(upstream->name, "default");
  EXPECT_EQ(upstream->host, "127.0.0.1");
  EXPECT_EQ(upstream->port, 5432);
}

TEST(BuildConfigTest, FlagsAreValidatedLikeTheFile) {
  const absl::StatusOr<Config> config = BuildConfig(*Parse(
      {"--upstream", "127.0.0.1:5432", "--admin-listen", "127.0.0.1:6432"}));
  EXPECT_EQ(config.status().message(),
            "<command line>: admin.listen[0]: 127.0.0.1:6432 is listed more "
            "than once");
}

class BuildConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(path_) << R"toml(
log_level = "warn"
[proxy]
listen = ["127.0.0.1:6432"]
workers = 2
max_client_connections = 10
[admin]
state_file = "/from/file.json"
[[admin.users]]
name = "admin"
password = "change-me"
[upstreams.blue]
port = 5432
[upstreams.default]
port = 1
control_user = "postgres"
[databases."*"]
upstream = "blue"
[databases.app]
upstream = "blue"
)toml";
  }
  void TearDown() override { std::remove(path_.c_str()); }

  std::string path_ = absl::StrCat(::testing::TempDir(), "command_line_test_",
                                   ::getpid(), ".toml");
};

TEST_F(BuildConfigFileTest, FileAlone) {
  const absl::StatusOr<Config> config =
      BuildConfig(*Parse({"--config", path_.c_str()}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, path_);
  EXPECT_EQ(config->proxy.workers, 2u);
  EXPECT_EQ(config->UpstreamFor("x")->name, "blue");
}

TEST_F(BuildConfigFileTest, OverridesBeatFileValues) {
  const absl::StatusOr<Config> config =
      BuildConfig(*Parse({"--config",
                          path_.c_str(),
                          "--listen",
                          "127.0.0.1:7000",
                          "--listen",
                          "127.0.0.1:7001",
                          "--unix-socket-dir",
                          "/run/p",
                          "--admin-listen",
                          "127.0.0.1:7002",
                          "--admin-unix-socket-dir",
                          "/run/a",
                          "--workers",
                          "6",
                          "--max-client-connections",
                          "99",
                          "--log-level",
                          "trace",
                          "--state-file",
                          "/from/flag.json",
                          "--admin-user",
                          "ops:pw:monitor",
                          "--upstream",
                          "/var/run/postgresql:5433"}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, path_);
  EXPECT_THAT(config->proxy.listen,
              ElementsAre(ListenAddress{"127.0.0.1", 7000},
                          ListenAddress{"127.0.0.1", 7001}));
  EXPECT_EQ(config->proxy.unix_socket_dir, "/run/p");
  EXPECT_THAT(config->admin.listen,
              ElementsAre(ListenAddress{"127.0.0.1", 7002}));
  EXPECT_EQ(config->admin.unix_socket_dir, "/run/a");
  EXPECT_EQ(config->proxy.workers, 6u);
  EXPECT_EQ(config->proxy.max_client_connections, 99u);
  EXPECT_EQ(config->log_level, "trace");
  EXPECT_EQ(config->admin.state_file, "/from/flag.json");
  ASSERT_EQ(config->admin.users.size(), 2u);
  EXPECT_EQ(config->admin.users[1].name, "ops");
  // --upstream takes over "*" and the file's "default" entry, keeping its
  // control settings; other routes stay.
  const UpstreamConfig* fallback = config->UpstreamFor("other");
  ASSERT_NE(fallback, nullptr);
  EXPECT_EQ(fallback->name, "default");
  EXPECT_EQ(fallback->host, "/var/run/postgresql");
  EXPECT_EQ(fallback->port, 5433);
  EXPECT_EQ(fallback->control_user, "postgres");
  EXPECT_EQ(config->UpstreamFor("app")->name, "blue");
}

TEST_F(BuildConfigFileTest, OverrideErrorsSayFlagsWereInvolved) {
  const absl::StatusOr<Config> config = BuildConfig(
      *Parse({"--config", path_.c_str(), "--admin-user", "admin:other"}));
  EXPECT_EQ(config.status().message(),
            absl::StrCat(path_,
                         " with command-line overrides: "
                         "admin.users[1].name: \"admin\" is already "
                         "used by admin.users[0]"));
}

TEST_F(BuildConfigFileTest, UpstreamFlagCompletesAFileWithoutRoutes) {
  std::ofstream(path_) << "[proxy]\nworkers = 3\n";
  EXPECT_FALSE(BuildConfig(*Parse({"--config", path_.c_str()})).ok());
  const absl::StatusOr<Config> config = BuildConfig(
      *Parse({"--config", path_.c_str(), "--upstream", "127.0.0.1:5432"}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->proxy.workers, 3u);
  EXPECT_EQ(config->UpstreamFor("db")->name, "default");
}

TEST_F(BuildConfigFileTest, CheckConfigReportsValidity) {
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunCheckConfig(*Parse({"--check-config", path_.c_str()}), out, err,
                           1'000'000),
            0);
  EXPECT_EQ(out.str(), absl::StrCat("configuration ", path_, " is valid\n"));
  EXPECT_EQ(err.str(), "");

  std::ofstream(path_) << "[proxy]\nworkers = 2000\n";
  out.str("");
  EXPECT_EQ(RunCheckConfig(*Parse({"--check-config", path_.c_str()}), out, err),
            1);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(),
            absl::StrCat(path_,
                         ": proxy.workers: must be an integer between "
                         "0 and 1024, got 2000\n"));
}

TEST_F(BuildConfigFileTest, CheckConfigWarnsWhenTheFdLimitIsTooLow) {
  std::ofstream(path_) << "[proxy]\nmax_client_connections = 500\n"
                       << "max_startup_connections = 100\n"
                       << "[upstreams.blue]\n[databases.\"*\"]\nupstream = \"blue\"\n";
  std::ostringstream out;
  std::ostringstream err;
  // 500 x 2 + 100 + 64 reserved = 1164.
  EXPECT_EQ(RunCheckConfig(*Parse({"--check-config", path_.c_str()}), out, err, 1164), 0);
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(RunCheckConfig(*Parse({"--check-config", path_.c_str()}), out, err, 1024), 0);
  EXPECT_THAT(err.str(), ::testing::StartsWith(
                             "warning: the file-descriptor limit (1024) is below what the "
                             "configuration may need (1164 = max_client_connections 500 x 2 + "
                             "max_startup_connections 100 + 64 reserved)"));
}

}  // namespace
}  // namespace pgvalve::config
