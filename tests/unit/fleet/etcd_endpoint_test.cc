// How [fleet] etcd_endpoints are read: etcd's own URL form, or host:port.

#include <gtest/gtest.h>

#include "fleet/etcd_client.h"

namespace pgvalve::fleet {
namespace {

TEST(EtcdEndpointTest, ReadsUrlsAndHostPort) {
  for (const auto& [url, host, port] : {std::tuple{"http://127.0.0.1:2379", "127.0.0.1", 2379},
                                        std::tuple{"http://etcd-1.internal:2379/", "etcd-1.internal", 2379},
                                        std::tuple{"10.0.0.7:12379", "10.0.0.7", 12379},
                                        std::tuple{"http://[::1]:2379", "::1", 2379}}) {
    const absl::StatusOr<EtcdEndpoint> endpoint = ParseEtcdEndpoint(url);
    ASSERT_TRUE(endpoint.ok()) << url << ": " << endpoint.status();
    EXPECT_EQ(endpoint->host, host) << url;
    EXPECT_EQ(endpoint->port, port) << url;
  }
}

TEST(EtcdEndpointTest, RefusesWhatIsNoEndpoint) {
  for (const char* url : {"", "http://", "etcd", "http://etcd:", "http://etcd:0", "http://etcd:65536",
                          "http://etcd:2379x", ":2379"}) {
    EXPECT_FALSE(ParseEtcdEndpoint(url).ok()) << url;
  }
  const absl::StatusOr<EtcdEndpoint> tls = ParseEtcdEndpoint("https://etcd:2379");
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(std::string(tls.status().message()).find("https is not supported yet"), std::string::npos);
}

}  // namespace
}  // namespace pgvalve::fleet
