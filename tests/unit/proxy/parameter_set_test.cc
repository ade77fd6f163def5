// ParameterSet packs a backend's ParameterStatus values into one string;
// these tests check it behaves like the map it replaces.

#include "proxy/parameter_set.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pgvalve::proxy {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs AllOf(const ParameterSet& parameters) {
  Pairs pairs;
  parameters.ForEach([&pairs](std::string_view name, std::string_view value) {
    pairs.emplace_back(std::string(name), std::string(value));
  });
  return pairs;
}

TEST(ParameterSetTest, StartsEmpty) {
  ParameterSet parameters;
  EXPECT_EQ(parameters.size(), 0u);
  EXPECT_EQ(parameters.Get("TimeZone"), std::nullopt);
}

TEST(ParameterSetTest, KeepsEachNameOnceWithItsLatestValue) {
  ParameterSet parameters;
  parameters.Set("server_version", "15.20 (Debian 15.20-0+deb12u1)");
  parameters.Set("application_name", "psql");
  parameters.Set("TimeZone", "UTC");
  parameters.Set("application_name", "a much longer application name than before");
  parameters.Set("TimeZone", "");

  EXPECT_EQ(parameters.size(), 3u);
  EXPECT_EQ(parameters.Get("application_name"), "a much longer application name than before");
  EXPECT_EQ(parameters.Get("TimeZone"), "");
  EXPECT_THAT(AllOf(parameters),
              ::testing::ElementsAre(
                  std::pair<std::string, std::string>{"server_version", "15.20 (Debian 15.20-0+deb12u1)"},
                  std::pair<std::string, std::string>{"application_name",
                                                      "a much longer application name than before"},
                  std::pair<std::string, std::string>{"TimeZone", ""}));
}

TEST(ParameterSetTest, NamesMatchExactly) {
  ParameterSet parameters;
  parameters.Set("is_superuser", "on");
  parameters.Set("is", "x");
  EXPECT_EQ(parameters.Get("is_superuser"), "on");
  EXPECT_EQ(parameters.Get("is"), "x");
  EXPECT_EQ(parameters.Get("is_super"), std::nullopt);
  EXPECT_EQ(parameters.Get("IS"), std::nullopt);
}

TEST(ParameterSetTest, EmptyNameAndValueSurvive) {
  ParameterSet parameters;
  parameters.Set("", "");
  parameters.Set("a", "");
  parameters.Set("", "z");
  EXPECT_EQ(parameters.size(), 2u);
  EXPECT_EQ(parameters.Get(""), "z");
  EXPECT_EQ(parameters.Get("a"), "");
}

}  // namespace
}  // namespace pgvalve::proxy
