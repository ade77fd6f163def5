#include "config/client_network.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace pgvalve::config {
namespace {

using ::testing::HasSubstr;

std::string TextOf(std::string_view text) {
  absl::StatusOr<ClientNetwork> network = ClientNetwork::Parse(text);
  return network.ok() ? network->text() : "<error>";
}

std::string ErrorOf(std::string_view text) {
  absl::StatusOr<ClientNetwork> network = ClientNetwork::Parse(text);
  return network.ok() ? "<accepted>" : std::string(network.status().message());
}

TEST(ClientNetworkTest, ParsesIpv4AndIpv6Networks) {
  EXPECT_EQ(TextOf("10.0.0.0/8"), "10.0.0.0/8");
  EXPECT_EQ(TextOf("127.0.0.1"), "127.0.0.1/32");
  EXPECT_EQ(TextOf("0.0.0.0/0"), "0.0.0.0/0");
  EXPECT_EQ(TextOf("::1"), "::1/128");
  EXPECT_EQ(TextOf("2001:DB8::/32"), "2001:db8::/32");
  EXPECT_EQ(TextOf("::/0"), "::/0");
  EXPECT_EQ(TextOf("unix"), "unix");
}

TEST(ClientNetworkTest, RefusesMalformedText) {
  for (std::string_view bad : {"", "10.0.0", "10.0.0.0/", "10.0.0.0/33", "::1/129", "10.0.0.0/-1",
                               "10.0.0.0/8x", "host.example", "UNIX", " 10.0.0.0/8", "10.0.0.0/ 8"}) {
    EXPECT_THAT(ErrorOf(bad), HasSubstr("invalid client network")) << bad;
  }
}

TEST(ClientNetworkTest, RefusesHostBitsAndSuggestsTheNetwork) {
  EXPECT_EQ(ErrorOf("10.1.2.3/8"),
            "invalid client network \"10.1.2.3/8\": it has bits set to the right of the mask; did "
            "you mean '10.0.0.0/8'?");
  EXPECT_THAT(ErrorOf("2001:db8::1/32"), HasSubstr("did you mean '2001:db8::/32'?"));
}

TEST(ClientNetworkTest, MatchesAddressesOfItsFamily) {
  const ClientNetwork loopback = *ClientNetwork::Parse("127.0.0.0/8");
  EXPECT_TRUE(loopback.Contains("127.0.0.1"));
  EXPECT_TRUE(loopback.Contains("127.255.0.9"));
  EXPECT_FALSE(loopback.Contains("128.0.0.1"));
  EXPECT_FALSE(loopback.Contains("::1"));
  EXPECT_FALSE(loopback.Contains("unix"));
  // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
  EXPECT_TRUE(loopback.Contains("::ffff:127.0.0.1"));
  EXPECT_FALSE(loopback.Contains("::ffff:10.0.0.1"));

  const ClientNetwork v6 = *ClientNetwork::Parse("2001:db8::/32");
  EXPECT_TRUE(v6.Contains("2001:db8:1::5"));
  EXPECT_FALSE(v6.Contains("2001:db9::5"));
  EXPECT_FALSE(v6.Contains("10.0.0.1"));
  // IPv6's "anywhere" is not IPv4's: as in pg_hba.conf, the families differ.
  EXPECT_FALSE(ClientNetwork::Parse("::/0")->Contains("::ffff:10.0.0.1"));
  EXPECT_TRUE(ClientNetwork::Parse("0.0.0.0/0")->Contains("::ffff:10.0.0.1"));

  const ClientNetwork unix_socket = *ClientNetwork::Parse("unix");
  EXPECT_TRUE(unix_socket.Contains("unix"));
  EXPECT_FALSE(unix_socket.Contains("127.0.0.1"));
  EXPECT_FALSE(ClientNetwork::Parse("0.0.0.0/0")->Contains("unix"));
  EXPECT_FALSE(loopback.Contains("unknown"));
}

}  // namespace
}  // namespace pgvalve::config
