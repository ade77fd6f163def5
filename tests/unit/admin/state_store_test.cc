// The state file: what an operator set survives a restart byte for byte,
// whatever the text in it, and a file pgvalve cannot read is an error that
// names it.

#include "admin/state_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace pgvalve::admin {
namespace {

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/pgvalve-state-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/state.toml";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::string path_;
  // For the tests about databases: no limits set.
  RuntimeLimits no_limits_;
};

TEST_F(StateStoreTest, WhatWasSavedIsLoadedAgain) {
  proxy::DatabaseRegistry saved;
  const std::string reason = "moving to \"green\"\nback at 10:00 \\ ask ops\t\x01\x7f";
  saved.Gate("app")->Disable(
      proxy::DisableState{.reason = reason, .except_roles = {"migrator", "Odd \"Role\""}});
  saved.Gate("Reports DB")->Pause(proxy::StateOrigin::kAdminCommand);
  saved.disable_all().Set(proxy::DisableAllState{
      .reason = "all", .except_databases = {"Reports DB"}, .except_roles = {"dba"}});
  saved.Gate("plain");  // nothing set: nothing saved
  StateStore store(path_);
  ASSERT_TRUE(store.Save(saved, no_limits_).ok());

  proxy::DatabaseRegistry loaded;
  ASSERT_TRUE(store.Load(loaded, no_limits_).ok());
  const auto app = loaded.Gate("app")->Snapshot();
  ASSERT_TRUE(app.disabled.has_value());
  EXPECT_EQ(app.disabled->reason, reason);
  EXPECT_EQ(app.disabled->except_roles, (std::vector<std::string>{"migrator", "Odd \"Role\""}));
  EXPECT_EQ(app.disabled->origin, proxy::StateOrigin::kStateFile);
  EXPECT_FALSE(app.paused);
  const auto reports = loaded.Gate("Reports DB")->Snapshot();
  EXPECT_TRUE(reports.paused);
  EXPECT_EQ(reports.pause_origin, proxy::StateOrigin::kStateFile);
  EXPECT_FALSE(reports.disabled.has_value());
  const auto all = loaded.disable_all().state();
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->except_databases, std::vector<std::string>{"Reports DB"});
  EXPECT_EQ(all->except_roles, std::vector<std::string>{"dba"});
  EXPECT_TRUE(loaded.Gate("plain")->AtDefault());
}

TEST_F(StateStoreTest, NoPathPersistsNothingAndAMissingFileIsAnEmptyState) {
  proxy::DatabaseRegistry registry;
  registry.Gate("app")->Disable(proxy::DisableState{.reason = "r"});
  EXPECT_TRUE(StateStore(std::nullopt).Save(registry, no_limits_).ok());
  EXPECT_TRUE(StateStore(std::nullopt).Load(registry, no_limits_).ok());

  proxy::DatabaseRegistry fresh;
  EXPECT_TRUE(StateStore(path_).Load(fresh, no_limits_).ok());
  EXPECT_EQ(fresh.size(), 0u);
}

TEST_F(StateStoreTest, AMalformedFileIsAnErrorNamingIt) {
  for (const std::string text : {"version = 1\n[databases.\"app\"\n",
                                 "version = 1\n[databases.app]\nreason = \"unterminated\n",
                                 "version = 1\n[disable_all]\nexcept_roles = [\"a\", \n"}) {
    std::ofstream(path_, std::ios::trunc) << text;
    proxy::DatabaseRegistry registry;
    const absl::Status loaded = StateStore(path_).Load(registry, no_limits_);
    EXPECT_FALSE(loaded.ok()) << text;
    EXPECT_NE(std::string(loaded.message()).find(path_), std::string::npos) << loaded;
  }
}

// toml11 reads past its buffer on an incomplete UTF-8 sequence in a
// 'literal string' (ASan: heap-buffer-overflow), so such a file must be
// refused before toml11 sees it, as pgvalve.toml is.
TEST_F(StateStoreTest, AFileThatIsNotUtf8IsRefusedNamingTheLine) {
  for (const std::string text : {"version = 1\n[databases.app]\ndisabled = true\nreason = 'caf\xe9'\n",
                                 "version = 1\n[databases.app]\ndisabled = true\nreason = 'trunc\xe2\x82'"}) {
    std::ofstream(path_, std::ios::trunc | std::ios::binary) << text;
    proxy::DatabaseRegistry registry;
    const absl::Status loaded = StateStore(path_).Load(registry, no_limits_);
    EXPECT_FALSE(loaded.ok());
    EXPECT_NE(std::string(loaded.message()).find(path_ + ":4: syntax error: invalid UTF-8"),
              std::string::npos)
        << loaded;
    EXPECT_EQ(registry.size(), 0u) << "state applied from a file that was refused";
  }
}

TEST_F(StateStoreTest, SavingReplacesTheFileWhole) {
  proxy::DatabaseRegistry registry;
  auto gate = registry.Gate("app");
  gate->Disable(proxy::DisableState{.reason = "first"});
  StateStore store(path_);
  ASSERT_TRUE(store.Save(registry, no_limits_).ok());
  gate->Enable();
  ASSERT_TRUE(store.Save(registry, no_limits_).ok());

  proxy::DatabaseRegistry loaded;
  ASSERT_TRUE(store.Load(loaded, no_limits_).ok());
  EXPECT_EQ(loaded.size(), 0u) << "ENABLE leaves nothing to restore";
  // No temporary file is left beside it.
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1u);
}

TEST_F(StateStoreTest, LimitsSetAtRuntimeAreLoadedAgain) {
  using config::Limit;
  RuntimeLimits saved;
  saved.Set("app", Limit::kQueryTimeout,
            {.value = std::chrono::minutes(10), .except_users = {"replicator", "Odd \"User\""}});
  saved.Set("app", Limit::kQueryTimeoutGrace, {.value = std::chrono::seconds(2)});
  saved.Set("*", Limit::kClientIdleTimeout, {.value = std::chrono::milliseconds(1500)});
  saved.Set("Reports DB", Limit::kIdleInTransactionTimeout, {.value = std::chrono::milliseconds(0)});
  proxy::DatabaseRegistry databases;
  databases.Gate("app")->Pause(proxy::StateOrigin::kAdminCommand);
  StateStore store(path_);
  ASSERT_TRUE(store.Save(databases, saved).ok());

  proxy::DatabaseRegistry loaded_databases;
  RuntimeLimits loaded;
  ASSERT_TRUE(store.Load(loaded_databases, loaded).ok());
  EXPECT_EQ(loaded.all(), saved.all());
  EXPECT_TRUE(loaded_databases.Gate("app")->Snapshot().paused) << "the [databases] part is kept";
}

TEST_F(StateStoreTest, AMalformedLimitIsAnErrorNamingTheFile) {
  for (const std::string text : {"version = 1\n[limits.app]\nquery_timeout = \"soon\"\n",
                                 "version = 1\n[limits.app]\nquery_timeout = 5\n",
                                 "version = 1\n[limits.app]\nwhatever_timeout = \"5s\"\n",
                                 "version = 1\n[limits.app]\nclient_idle_timeout_except_users = []\n",
                                 "version = 1\n[limits.app]\nquery_timeout_grace = \"1s\"\n"
                                 "query_timeout_grace_except_users = []\n"}) {
    std::ofstream(path_, std::ios::trunc) << text;
    proxy::DatabaseRegistry registry;
    RuntimeLimits limits;
    const absl::Status loaded = StateStore(path_).Load(registry, limits);
    EXPECT_FALSE(loaded.ok()) << text;
    EXPECT_NE(std::string(loaded.message()).find(path_), std::string::npos) << loaded;
  }
}

}  // namespace
}  // namespace pgvalve::admin
