// How [fleet] etcd_endpoints are read: etcd's own URL form, or host:port.

#include <gtest/gtest.h>

#include "fleet/etcd_client.h"

namespace pgvalve::fleet {
namespace {

TEST(EtcdEndpointTest, ReadsUrlsAndHostPort) {
  for (const auto& [url, host, port, tls] :
       {std::tuple{"http://127.0.0.1:2379", "127.0.0.1", 2379, false},
        std::tuple{"http://etcd-1.internal:2379/", "etcd-1.internal", 2379, false},
        std::tuple{"10.0.0.7:12379", "10.0.0.7", 12379, false}, std::tuple{"http://[::1]:2379", "::1", 2379, false},
        std::tuple{"https://etcd-1.internal:2379", "etcd-1.internal", 2379, true},
        std::tuple{"https://[::1]:2379/", "::1", 2379, true}}) {
    const absl::StatusOr<EtcdEndpoint> endpoint = ParseEtcdEndpoint(url);
    ASSERT_TRUE(endpoint.ok()) << url << ": " << endpoint.status();
    EXPECT_EQ(endpoint->host, host) << url;
    EXPECT_EQ(endpoint->port, port) << url;
    EXPECT_EQ(endpoint->tls, tls) << url;
  }
}

TEST(EtcdEndpointTest, RefusesWhatIsNoEndpoint) {
  for (const char* url : {"", "http://", "https://", "etcd", "http://etcd:", "http://etcd:0", "http://etcd:65536",
                          "http://etcd:2379x", ":2379", "https://etcd"}) {
    EXPECT_FALSE(ParseEtcdEndpoint(url).ok()) << url;
  }
}

}  // namespace
}  // namespace pgvalve::fleet
