#include <memory>

#include "gtest/gtest.h"
#include "proxy/upstream_connector.h"

namespace pgvalve::proxy {
namespace {

UpstreamEndpoint Tcp(uint16_t port) { return tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port); }

TEST(SharedEndpointTest, SessionsOnTheSameEndpointShareOneCopy) {
  std::shared_ptr<const UpstreamEndpoint> first = SharedEndpoint(Tcp(5432));
  std::shared_ptr<const UpstreamEndpoint> second = SharedEndpoint(Tcp(5432));
  EXPECT_EQ(first, second);
  EXPECT_EQ(Describe(*second), "127.0.0.1:5432");
}

TEST(SharedEndpointTest, AnotherEndpointIsACopyOfItsOwn) {
  std::shared_ptr<const UpstreamEndpoint> main = SharedEndpoint(Tcp(5432));
  std::shared_ptr<const UpstreamEndpoint> other = SharedEndpoint(Tcp(5433));
  std::shared_ptr<const UpstreamEndpoint> socket = SharedEndpoint(unix_socket::endpoint("/run/pg/.s.PGSQL.5432"));
  EXPECT_EQ(Describe(*main), "127.0.0.1:5432");
  EXPECT_EQ(Describe(*other), "127.0.0.1:5433");
  EXPECT_EQ(Describe(*socket), "/run/pg/.s.PGSQL.5432");
  // Alternating endpoints are still right, if not shared.
  EXPECT_EQ(*SharedEndpoint(Tcp(5432)), *main);
}

}  // namespace
}  // namespace pgvalve::proxy
