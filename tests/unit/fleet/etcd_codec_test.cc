// etcd's JSON gateway as pgvalve writes and reads it: base64 both ways
// (RFC 4648's test vectors, bytes that are not UTF-8), the prefix's range
// end, request bodies, and answers as etcd 3.4 sends them, errors included.

#include "fleet/etcd_codec.h"
#include "fleet/instance_record.h"

#include <gtest/gtest.h>

#include <string>

namespace pgvalve::fleet {
namespace {

TEST(EtcdBase64Test, RoundTripsTheRfcVectorsAndAnyByte) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [bytes, text] : vectors) {
    EXPECT_EQ(Base64Encode(bytes), text);
    EXPECT_EQ(Base64Decode(text), bytes) << text;
  }
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte.push_back(static_cast<char>(i));
  EXPECT_EQ(Base64Decode(Base64Encode(every_byte)), every_byte);
}

TEST(EtcdBase64Test, RefusesWhatIsNotBase64) {
  for (const char* text : {"Zm9", "Zm9v!", "Zg=a", "Z===", "Zm=v", "====" }) {
    EXPECT_EQ(Base64Decode(text), std::nullopt) << text;
  }
}

TEST(EtcdCodecTest, PrefixEndIncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(PrefixEnd("/pgvalve/"), "/pgvalve0");
  EXPECT_EQ(PrefixEnd(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff", 1)), std::string(1, '\0'));
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

TEST(EtcdCodecTest, RequestsCarryBase64AndInt64AsText) {
  EXPECT_EQ(PutRequest("foo", "bar", 0), R"({"key":"Zm9v","value":"YmFy"})");
  EXPECT_EQ(PutRequest("foo", "bar", 7587862521296402692),
            R"({"key":"Zm9v","value":"YmFy","lease":"7587862521296402692"})");
  EXPECT_EQ(RangeRequest("foo", PrefixEnd("foo")), R"({"key":"Zm9v","range_end":"Zm9w"})");
  EXPECT_EQ(LeaseGrantRequest(10), R"({"TTL":"10","ID":"0"})");
  EXPECT_EQ(LeaseIdRequest(42), R"({"ID":"42"})");

  Txn txn;
  txn.compare.push_back({.key = "lock", .target = Compare::Target::kCreateRevision, .number = 0});
  txn.success.push_back({.kind = TxnOperation::Kind::kPut, .key = "lock", .value = "a", .lease = 5});
  txn.failure.push_back({.kind = TxnOperation::Kind::kDelete, .key = "x", .range_end = "y"});
  EXPECT_EQ(TxnRequest(txn),
            R"({"compare":[{"key":"bG9jaw==","target":"CREATE","result":"EQUAL","create_revision":"0"}],)"
            R"("success":[{"request_put":{"key":"bG9jaw==","value":"YQ==","lease":"5"}}],)"
            R"("failure":[{"request_delete_range":{"key":"eA==","range_end":"eQ=="}}]})");
}

TEST(EtcdCodecTest, ReadsARangeAsEtcdWritesIt) {
  const absl::StatusOr<RangeResult> range = ParseRange(
      R"({"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437",)"
      R"("revision":"12","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2",)"
      R"("mod_revision":"11","version":"3","value":"YmFy","lease":"7587862521296402692"}],"count":"1"})");
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(range->header.revision, 12);
  ASSERT_EQ(range->kvs.size(), 1u);
  EXPECT_EQ(range->kvs[0].key, "foo");
  EXPECT_EQ(range->kvs[0].value, "bar");
  EXPECT_EQ(range->kvs[0].create_revision, 2);
  EXPECT_EQ(range->kvs[0].mod_revision, 11);
  EXPECT_EQ(range->kvs[0].version, 3);
  EXPECT_EQ(range->kvs[0].lease, 7587862521296402692);

  // No kvs at all when nothing matched; an empty value is left out.
  const absl::StatusOr<RangeResult> none = ParseRange(R"({"header":{"revision":"12"}})");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->kvs.empty());
  const absl::StatusOr<RangeResult> empty_value =
      ParseRange(R"({"header":{"revision":"3"},"kvs":[{"key":"Zm9v","create_revision":"3","mod_revision":"3"}]})");
  ASSERT_TRUE(empty_value.ok()) << empty_value.status();
  EXPECT_EQ(empty_value->kvs.at(0).value, "");
}

TEST(EtcdCodecTest, ReadsTxnLeaseAndKeepAliveAnswers) {
  const absl::StatusOr<TxnResult> failed = ParseTxn(R"({"header":{"revision":"9"}})");
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_FALSE(failed->succeeded) << "protobuf leaves a false out";
  const absl::StatusOr<TxnResult> succeeded = ParseTxn(R"({"header":{"revision":"10"},"succeeded":true})");
  ASSERT_TRUE(succeeded.ok());
  EXPECT_TRUE(succeeded->succeeded);
  EXPECT_EQ(succeeded->header.revision, 10);

  const absl::StatusOr<LeaseGrant> grant =
      ParseLeaseGrant(R"({"header":{"revision":"4"},"ID":"694d77aa","TTL":"10"})");
  EXPECT_FALSE(grant.ok()) << "an ID that is not a decimal number";
  const absl::StatusOr<LeaseGrant> granted =
      ParseLeaseGrant(R"({"header":{"revision":"4"},"ID":"7587862521296402692","TTL":"10"})");
  ASSERT_TRUE(granted.ok()) << granted.status();
  EXPECT_EQ(granted->id, 7587862521296402692);
  EXPECT_EQ(granted->ttl_seconds, 10);

  EXPECT_EQ(ParseKeepAlive(R"({"result":{"header":{"revision":"4"},"ID":"5","TTL":"9"}})").value(), 9);
  EXPECT_EQ(ParseKeepAlive(R"({"result":{"header":{"revision":"4"},"ID":"5"}})").value(), 0)
      << "an expired lease's TTL is left out";
}

TEST(EtcdCodecTest, EtcdsErrorsAndGarbageAreErrors) {
  const absl::StatusOr<RangeResult> error =
      ParseRange(R"({"error":"etcdserver: requested lease not found","code":5,)"
                 R"("message":"etcdserver: requested lease not found"})");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(std::string(error.status().message()), "etcd: etcdserver: requested lease not found");
  EXPECT_FALSE(ParseRange("not json").ok());
  EXPECT_FALSE(ParseRange("[]").ok());
  EXPECT_FALSE(ParseRange(R"({"kvs":[{"key":"not base64!"}]})").ok());
  EXPECT_FALSE(ParseRange(R"({"header":{"revision":"twelve"}})").ok());
}

TEST(EtcdWatchStreamTest, CutsTheStreamAtLineFeedsWhateverThePieces) {
  WatchStreamSplitter splitter(16);
  ASSERT_TRUE(splitter.Append("{\"a\":1}\n{\"b").ok());
  EXPECT_EQ(splitter.Next(), "{\"a\":1}");
  EXPECT_EQ(splitter.Next(), std::nullopt) << "half a message";
  ASSERT_TRUE(splitter.Append("\":2}\n\n").ok());
  EXPECT_EQ(splitter.Next(), "{\"b\":2}");
  EXPECT_EQ(splitter.Next(), "");
  EXPECT_EQ(splitter.Next(), std::nullopt);
}

TEST(EtcdWatchStreamTest, AMessageOverTheBoundStopsTheStream) {
  WatchStreamSplitter splitter(8);
  ASSERT_TRUE(splitter.Append("12345678\n1234").ok());
  EXPECT_EQ(splitter.Append("56789").code(), absl::StatusCode::kResourceExhausted) << "9 bytes without an end";
  EXPECT_FALSE(splitter.Append("\n").ok()) << "nothing is taken after";
}

TEST(EtcdWatchStreamTest, ReadsCreationEventsAndCancellation) {
  const absl::StatusOr<WatchMessage> created =
      ParseWatchMessage(R"({"result":{"header":{"revision":"1"},"created":true}})");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  EXPECT_TRUE(created->events.empty());

  const absl::StatusOr<WatchMessage> events = ParseWatchMessage(
      R"({"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"Zm9v","create_revision":"2",)"
      R"("mod_revision":"2","version":"1","value":"YmFy"}},)"
      R"({"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"3"}}]}})");
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].type, WatchEvent::Type::kPut) << "PUT is left out, as protobuf's zero";
  EXPECT_EQ(events->events[0].kv.value, "bar");
  EXPECT_EQ(events->events[1].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(events->events[1].kv.mod_revision, 3);

  const absl::StatusOr<WatchMessage> compacted =
      ParseWatchMessage(R"({"result":{"header":{"revision":"9"},"canceled":true,"compact_revision":"5"}})");
  ASSERT_TRUE(compacted.ok()) << compacted.status();
  EXPECT_TRUE(compacted->canceled);
  EXPECT_EQ(compacted->compact_revision, 5);

  EXPECT_FALSE(ParseWatchMessage(R"({"result":{"events":[{"type":"TRUNCATE","kv":{}}]}})").ok());
  EXPECT_FALSE(ParseWatchMessage(R"({"header":{}})").ok()) << "no result";
}

TEST(EtcdWatchStreamTest, TheCreateRequestNamesTheRangeAndTheRevision) {
  EXPECT_EQ(WatchCreateRequest("/p/", PrefixEnd("/p/"), 0),
            R"({"create_request":{"key":"L3Av","range_end":"L3Aw"}})");
  EXPECT_EQ(WatchCreateRequest("/p/", "", 42), R"({"create_request":{"key":"L3Av","start_revision":"42"}})");
}

TEST(InstanceRecordTest, RoundTripsAndNamesItsKey) {
  const InstanceRecord record{.id = "pgvalve-1",
                              .address = "10.0.0.5:6432",
                              .version = "0.1.0",
                              .sessions = 42,
                              .applied_revision = 7,
                              .started = "2026-12-07 07:00:00+00"};
  const absl::StatusOr<InstanceRecord> back = DecodeInstance(EncodeInstance(record));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->id, "pgvalve-1");
  EXPECT_EQ(back->address, "10.0.0.5:6432");
  EXPECT_EQ(back->sessions, 42u);
  EXPECT_EQ(back->applied_revision, 7);
  EXPECT_EQ(back->started, "2026-12-07 07:00:00+00");
  EXPECT_FALSE(DecodeInstance(R"({"address":"x"})").ok()) << "no id";
  EXPECT_FALSE(DecodeInstance("not json").ok());
  EXPECT_EQ(InstanceKey("/pgvalve", "a"), "/pgvalve/instances/a");
}

}  // namespace
}  // namespace pgvalve::fleet
