// The fleet's etcd codec against a real etcd 3.4 (Debian's etcd-server):
// the requests it writes are the ones etcd's JSON gateway takes, and it
// reads what etcd answers, so that the client built on it talks to etcd
// as it is and not as its documentation was read.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fleet/etcd_codec.h"
#include "tests/support/etcd_server.h"
#include "tests/support/http_client.h"

namespace pgvalve::test {
namespace {

using fleet::Compare;
using fleet::PrefixEnd;
using fleet::Txn;
using fleet::TxnOperation;

class EtcdGatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { etcd_ = std::make_unique<EtcdServer>(); }
  static void TearDownTestSuite() { etcd_.reset(); }

  // POSTs `body` to etcd's `path` (/v3/kv/put, ...) and returns its answer,
  // whatever the status: etcd's errors come as JSON too.
  static std::string Call(const std::string& path, std::string body) {
    HttpRequest request;
    request.method = "POST";
    request.port = etcd_->client_port();
    request.target = path;
    request.body = std::move(body);
    return SendHttpRequest(request).body;
  }

  static std::unique_ptr<EtcdServer> etcd_;
};

std::unique_ptr<EtcdServer> EtcdGatewayTest::etcd_;

TEST_F(EtcdGatewayTest, PutsAreReadBackByKeyAndByPrefix) {
  const absl::StatusOr<fleet::ResponseHeader> first =
      fleet::ParseHeaderOnly(Call("/v3/kv/put", fleet::PutRequest("/t1/a", "one", 0)));
  ASSERT_TRUE(first.ok()) << first.status();
  // Bytes that are neither UTF-8 nor printable survive both ways.
  const std::string binary("\xff\x00\x01", 3);
  const absl::StatusOr<fleet::ResponseHeader> second =
      fleet::ParseHeaderOnly(Call("/v3/kv/put", fleet::PutRequest("/t1/b", binary, 0)));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(second->revision, first->revision);

  const absl::StatusOr<fleet::RangeResult> one =
      fleet::ParseRange(Call("/v3/kv/range", fleet::RangeRequest("/t1/a", "")));
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->kvs.size(), 1u);
  EXPECT_EQ(one->kvs[0].value, "one");
  EXPECT_EQ(one->kvs[0].mod_revision, first->revision);
  EXPECT_EQ(one->kvs[0].version, 1);

  const absl::StatusOr<fleet::RangeResult> both =
      fleet::ParseRange(Call("/v3/kv/range", fleet::RangeRequest("/t1/", PrefixEnd("/t1/"))));
  ASSERT_TRUE(both.ok()) << both.status();
  ASSERT_EQ(both->kvs.size(), 2u);
  EXPECT_EQ(both->kvs[1].key, "/t1/b");
  EXPECT_EQ(both->kvs[1].value, binary);
  EXPECT_EQ(both->header.revision, second->revision);

  const absl::StatusOr<fleet::RangeResult> none =
      fleet::ParseRange(Call("/v3/kv/range", fleet::RangeRequest("/t1/c", "")));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->kvs.empty());
}

// Create-if-absent, the building block of a lock: the first transaction
// takes the key, the second finds it taken.
TEST_F(EtcdGatewayTest, ATransactionComparesAndTakesOneBranch) {
  Txn take;
  take.compare.push_back({.key = "/t2/lock", .target = Compare::Target::kCreateRevision, .number = 0});
  take.success.push_back({.kind = TxnOperation::Kind::kPut, .key = "/t2/lock", .value = "instance a"});
  take.failure.push_back({.kind = TxnOperation::Kind::kPut, .key = "/t2/lost", .value = "instance a"});

  const absl::StatusOr<fleet::TxnResult> first = fleet::ParseTxn(Call("/v3/kv/txn", fleet::TxnRequest(take)));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->succeeded);
  const absl::StatusOr<fleet::TxnResult> second = fleet::ParseTxn(Call("/v3/kv/txn", fleet::TxnRequest(take)));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->succeeded);

  const absl::StatusOr<fleet::RangeResult> lost =
      fleet::ParseRange(Call("/v3/kv/range", fleet::RangeRequest("/t2/lost", "")));
  ASSERT_TRUE(lost.ok());
  EXPECT_EQ(lost->kvs.size(), 1u) << "the failure branch ran";

  // A compare on the value, and a delete in the branch.
  Txn release;
  release.compare.push_back({.key = "/t2/lock",
                             .target = Compare::Target::kValue,
                             .result = Compare::Result::kEqual,
                             .value = "instance a"});
  release.success.push_back({.kind = TxnOperation::Kind::kDelete, .key = "/t2/lock"});
  const absl::StatusOr<fleet::TxnResult> released =
      fleet::ParseTxn(Call("/v3/kv/txn", fleet::TxnRequest(release)));
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_TRUE(released->succeeded);
  EXPECT_TRUE(fleet::ParseRange(Call("/v3/kv/range", fleet::RangeRequest("/t2/lock", ""))).value().kvs.empty());
}

// What an instance's registration rests on: a key under a lease lives as
// long as the lease, which a keepalive renews and a revoke ends.
TEST_F(EtcdGatewayTest, AKeyUnderALeaseGoesWithIt) {
  const absl::StatusOr<fleet::LeaseGrant> lease =
      fleet::ParseLeaseGrant(Call("/v3/lease/grant", fleet::LeaseGrantRequest(30)));
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->ttl_seconds, 30);
  ASSERT_TRUE(fleet::ParseHeaderOnly(Call("/v3/kv/put", fleet::PutRequest("/t3/me", "alive", lease->id))).ok());
  const absl::StatusOr<fleet::RangeResult> mine =
      fleet::ParseRange(Call("/v3/kv/range", fleet::RangeRequest("/t3/me", "")));
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->kvs.size(), 1u);
  EXPECT_EQ(mine->kvs[0].lease, lease->id);

  const absl::StatusOr<int64_t> ttl =
      fleet::ParseKeepAlive(Call("/v3/lease/keepalive", fleet::LeaseIdRequest(lease->id)));
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_EQ(*ttl, 30);

  ASSERT_TRUE(fleet::ParseHeaderOnly(Call("/v3/lease/revoke", fleet::LeaseIdRequest(lease->id))).ok());
  EXPECT_TRUE(fleet::ParseRange(Call("/v3/kv/range", fleet::RangeRequest("/t3/me", ""))).value().kvs.empty());

  // Gone: a keepalive finds nothing to renew, a second revoke is etcd's error.
  EXPECT_EQ(fleet::ParseKeepAlive(Call("/v3/lease/keepalive", fleet::LeaseIdRequest(lease->id))).value(), 0);
  const absl::StatusOr<fleet::ResponseHeader> again =
      fleet::ParseHeaderOnly(Call("/v3/lease/revoke", fleet::LeaseIdRequest(lease->id)));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(std::string(again.status().message()).find("lease not found"), std::string::npos) << again.status();
}

}  // namespace
}  // namespace pgvalve::test
