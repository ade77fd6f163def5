// CancelKeyMap: the keys pgvalve hands to clients in place of the server's
// BackendKeyData, their lookup when a CancelRequest comes in, and the way
// back from a real backend pid to its virtual pid (NotificationResponse);
// within a fleet, the instance slot in each pid and where it routes.

#include "proxy/cancel_key_map.h"

#include <array>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "boost/asio/ip/address_v4.hpp"
#include "gtest/gtest.h"
#include "proxy/cancel_routes.h"

namespace pgvalve::proxy {
namespace {

constexpr int32_t kFirstVirtualPid = int32_t{1} << 30;

CancelSecret CountingSecret(size_t length, uint8_t first = 1) {
  CancelSecret secret(length);
  for (size_t i = 0; i < length; ++i) secret[i] = static_cast<std::byte>(first + i);
  return secret;
}

CancelTarget Target(uint64_t session_id, int32_t backend_pid, CancelSecret secret,
                    std::string upstream_name = "main") {
  return CancelTarget{
      .session_id = session_id,
      .backend = std::make_shared<const BackendKey>(BackendKey{
          .upstream_name = std::move(upstream_name),
          .endpoint = std::make_shared<const UpstreamEndpoint>(
              tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 5432)),
          .pid = backend_pid,
          .secret = std::move(secret)})};
}

TEST(CancelKeyMapTest, MintedPidsAreAboveAnyRealPidAndUnique) {
  CancelKeyMap map;
  std::set<int32_t> pids;
  for (int i = 0; i < 1000; ++i) {
    VirtualKey key = map.Register(Target(i, 4242, CountingSecret(4)));
    EXPECT_GE(key.pid, kFirstVirtualPid);
    EXPECT_TRUE(pids.insert(key.pid).second) << "pid " << key.pid << " minted twice";
  }
  EXPECT_EQ(map.size(), 1000u);
}

TEST(CancelKeyMapTest, MintedPidsStayUniqueUnderConcurrentRegistration) {
  CancelKeyMap map;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::vector<int32_t>> minted(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&map, &minted, t] {
      for (int i = 0; i < kPerThread; ++i) {
        minted[t].push_back(map.Register(Target(t * kPerThread + i, 7, CountingSecret(4))).pid);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<int32_t> pids;
  for (const auto& list : minted) pids.insert(list.begin(), list.end());
  EXPECT_EQ(pids.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(map.size(), size_t{kThreads * kPerThread});
}

TEST(CancelKeyMapTest, SecretIsAsLongAsTheServersAndNotTheServers) {
  for (size_t length : {size_t{4}, size_t{32}, size_t{256}}) {
    SCOPED_TRACE(::testing::Message() << "server secret of " << length << " bytes");
    CancelKeyMap map;
    CancelSecret server_secret = CountingSecret(length);
    VirtualKey key = map.Register(Target(1, 4242, server_secret));
    EXPECT_EQ(key.secret.size(), length);
    EXPECT_NE(key.secret, server_secret);
    EXPECT_NE(key.pid, 4242);
  }
}

TEST(CancelKeyMapTest, FindWithTheMintedKeyReturnsTheTarget) {
  CancelKeyMap map;
  CancelSecret server_secret = CountingSecret(32, 0x40);
  VirtualKey key = map.Register(Target(17, 4242, server_secret));

  std::optional<CancelTarget> found = map.Find(key.pid, key.secret);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->session_id, 17u);
  EXPECT_EQ(found->backend->pid, 4242);
  EXPECT_EQ(found->backend->secret, server_secret);
  EXPECT_EQ(found->backend->upstream_name, "main");
  EXPECT_EQ(Describe(*found->backend->endpoint), "127.0.0.1:5432");
}

TEST(CancelKeyMapTest, FindKeepsEachKeyToItsOwnTarget) {
  CancelKeyMap map;
  VirtualKey first = map.Register(Target(1, 100, CountingSecret(4, 1)));
  VirtualKey second = map.Register(Target(2, 200, CountingSecret(4, 9)));
  ASSERT_TRUE(map.Find(first.pid, first.secret).has_value());
  ASSERT_TRUE(map.Find(second.pid, second.secret).has_value());
  EXPECT_EQ(map.Find(first.pid, first.secret)->backend->pid, 100);
  EXPECT_EQ(map.Find(second.pid, second.secret)->backend->pid, 200);
  // One session's secret does not open another's pid.
  EXPECT_FALSE(map.Find(first.pid, second.secret).has_value());
  EXPECT_FALSE(map.Find(second.pid, first.secret).has_value());
}

TEST(CancelKeyMapTest, WrongSecretIsRejectedWhicheverByteDiffers) {
  CancelKeyMap map;
  for (size_t length : {size_t{4}, size_t{256}}) {
    VirtualKey key = map.Register(Target(1, 4242, CountingSecret(length)));
    for (size_t at = 0; at < length; ++at) {
      CancelSecret wrong = key.secret;
      wrong[at] ^= std::byte{0x01};
      EXPECT_FALSE(map.Find(key.pid, wrong).has_value()) << "byte " << at << " of " << length;
    }
  }
}

TEST(CancelKeyMapTest, SecretOfTheWrongLengthIsRejected) {
  CancelKeyMap map;
  VirtualKey key = map.Register(Target(1, 4242, CountingSecret(4)));
  CancelSecret longer = key.secret;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(map.Find(key.pid, longer).has_value());
  EXPECT_FALSE(map.Find(key.pid, std::span(key.secret).first(3)).has_value());
  EXPECT_FALSE(map.Find(key.pid, {}).has_value());

  VirtualKey long_key = map.Register(Target(2, 4243, CountingSecret(32)));
  EXPECT_FALSE(map.Find(long_key.pid, std::span(long_key.secret).first(4)).has_value())
      << "a 3.0-length prefix of a 3.2 secret must not match";
}

TEST(CancelKeyMapTest, UnknownPidIsRejected) {
  CancelKeyMap map;
  VirtualKey key = map.Register(Target(1, 4242, CountingSecret(4)));
  EXPECT_FALSE(map.Find(key.pid + 1, key.secret).has_value());
  EXPECT_FALSE(map.Find(4242, key.secret).has_value()) << "the server's pid is not a key";
  EXPECT_FALSE(map.Find(0, key.secret).has_value());
  EXPECT_FALSE(map.Find(-1, key.secret).has_value());
}

TEST(CancelKeyMapTest, UnregisterForgetsTheKey) {
  CancelKeyMap map;
  VirtualKey gone = map.Register(Target(1, 100, CountingSecret(4)));
  VirtualKey kept = map.Register(Target(2, 200, CountingSecret(4)));
  map.Unregister(gone.pid);
  EXPECT_FALSE(map.Find(gone.pid, gone.secret).has_value());
  EXPECT_TRUE(map.Find(kept.pid, kept.secret).has_value());
  EXPECT_EQ(map.size(), 1u);
  map.Unregister(gone.pid);  // twice is harmless
  map.Unregister(12345);     // unknown is harmless
  EXPECT_EQ(map.size(), 1u);
}

TEST(CancelKeyMapTest, RegistrationsNeverShareASecret) {
  // Same target each time: the minted secret must come from the CSPRNG,
  // not from the server's key or a counter.
  CancelKeyMap map;
  CancelSecret server_secret = CountingSecret(16);
  std::set<CancelSecret> secrets;
  for (int i = 0; i < 2000; ++i) {
    VirtualKey key = map.Register(Target(i, 4242, server_secret));
    EXPECT_TRUE(secrets.insert(key.secret).second) << "secret repeated at registration " << i;
  }
}

TEST(CancelKeyMapTest, FourByteSecretsLookUniformlyRandom) {
  // 1000 draws from 2^32 values collide with probability ~1e-4; two
  // collisions (~1e-8) would mean the secrets are not random.
  CancelKeyMap map;
  std::set<CancelSecret> secrets;
  std::array<int, 256> first_byte_counts{};
  for (int i = 0; i < 1000; ++i) {
    VirtualKey key = map.Register(Target(i, 4242, CountingSecret(4)));
    secrets.insert(key.secret);
    ++first_byte_counts[static_cast<uint8_t>(key.secret[0])];
  }
  EXPECT_GE(secrets.size(), 999u);
  // A uniform byte over 1000 draws appears ~4 times each; 40 of one value
  // is far beyond chance.
  for (int value = 0; value < 256; ++value) EXPECT_LT(first_byte_counts[value], 40) << value;
}

// Each call makes a key of its own, held by nothing but the map once
// registered: a way back that outlived its key would read freed memory.
CancelTarget TargetOn(std::string upstream_name, int32_t backend_pid) {
  return Target(1, backend_pid, CountingSecret(4), std::move(upstream_name));
}

TEST(CancelKeyMapReverseTest, RealPidOnItsUpstreamGivesTheVirtualPid) {
  CancelKeyMap map;
  VirtualKey first = map.Register(TargetOn("main", 4242));
  VirtualKey second = map.Register(TargetOn("main", 4343));
  EXPECT_EQ(map.VirtualPidOf("main", 4242), first.pid);
  EXPECT_EQ(map.VirtualPidOf("main", 4343), second.pid);
}

TEST(CancelKeyMapReverseTest, UnknownBackendsAreNotTranslated) {
  CancelKeyMap map;
  map.Register(TargetOn("main", 4242));
  EXPECT_EQ(map.VirtualPidOf("main", 4243), std::nullopt) << "a direct connection's pid";
  EXPECT_EQ(map.VirtualPidOf("other", 4242), std::nullopt) << "the same pid on another upstream";
}

TEST(CancelKeyMapReverseTest, SamePidOnTwoUpstreamsKeepsBothApart) {
  CancelKeyMap map;
  VirtualKey on_main = map.Register(TargetOn("main", 4242));
  VirtualKey on_other = map.Register(TargetOn("other", 4242));
  EXPECT_EQ(map.VirtualPidOf("main", 4242), on_main.pid);
  EXPECT_EQ(map.VirtualPidOf("other", 4242), on_other.pid);
  map.Unregister(on_main.pid);
  EXPECT_EQ(map.VirtualPidOf("main", 4242), std::nullopt);
  EXPECT_EQ(map.VirtualPidOf("other", 4242), on_other.pid);
}

TEST(CancelKeyMapReverseTest, UnregisterForgetsTheWayBack) {
  CancelKeyMap map;
  VirtualKey key = map.Register(TargetOn("main", 4242));
  map.Unregister(key.pid);
  EXPECT_EQ(map.VirtualPidOf("main", 4242), std::nullopt);
}

// The server reuses a pid once its backend exited, possibly before the old
// session has finished ending and unregistered.
TEST(CancelKeyMapReverseTest, ReusedPidBelongsToTheNewerSessionEvenAfterTheOldOneEnds) {
  CancelKeyMap map;
  VirtualKey old_session = map.Register(TargetOn("main", 4242));
  VirtualKey new_session = map.Register(TargetOn("main", 4242));
  EXPECT_EQ(map.VirtualPidOf("main", 4242), new_session.pid);
  map.Unregister(old_session.pid);
  EXPECT_EQ(map.VirtualPidOf("main", 4242), new_session.pid);
  map.Unregister(new_session.pid);
  EXPECT_EQ(map.VirtualPidOf("main", 4242), std::nullopt);
}

// Pooling's seam: a session hands its backend over and gets another; the
// client's key stays and follows it.
TEST(CancelKeyMapRetargetTest, AKeyWithoutABackendCancelsNothingAndFindsNoWayBack) {
  CancelKeyMap map;
  VirtualKey key = map.Register(TargetOn("blue", 4242));
  map.Retarget(key.pid, nullptr);
  EXPECT_FALSE(map.Find(key.pid, key.secret).has_value());
  EXPECT_EQ(map.VirtualPidOf("blue", 4242), std::nullopt);
  EXPECT_EQ(map.size(), 1u);
  // Unregistering it afterwards touches no one else's way back.
  VirtualKey other = map.Register(TargetOn("blue", 4242));
  map.Unregister(key.pid);
  EXPECT_EQ(map.VirtualPidOf("blue", 4242), other.pid);
}

TEST(CancelKeyMapRetargetTest, TheSameKeyFindsTheNewBackendAndItsWayBack) {
  CancelKeyMap map;
  VirtualKey key = map.Register(TargetOn("blue", 4242));
  map.Retarget(key.pid, TargetOn("green", 5151).backend);
  std::optional<CancelTarget> found = map.Find(key.pid, key.secret);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->backend->upstream_name, "green");
  EXPECT_EQ(found->backend->pid, 5151);
  EXPECT_EQ(map.VirtualPidOf("green", 5151), key.pid);
  EXPECT_EQ(map.VirtualPidOf("blue", 4242), std::nullopt);
  map.Unregister(key.pid);
  EXPECT_EQ(map.VirtualPidOf("green", 5151), std::nullopt);
}

TEST(CancelKeyMapRetargetTest, AnUnknownPidIsIgnored) {
  CancelKeyMap map;
  map.Retarget(kFirstVirtualPid, TargetOn("green", 5151).backend);
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.VirtualPidOf("green", 5151), std::nullopt);
}

}  // namespace
}  // namespace pgvalve::proxy

namespace pgvalve::proxy {
namespace {

TEST(CancelKeyMapTest, WithinAFleetEveryPidNamesItsInstanceSlot) {
  CancelKeyMap map;
  map.SetInstanceSlot(0);
  EXPECT_EQ(InstanceSlotOf(map.Register(Target(1, 10, CountingSecret(4))).pid), 0);
  map.SetInstanceSlot(kInstanceSlots - 1);
  for (int i = 0; i < 100; ++i) {
    const VirtualKey key = map.Register(Target(2 + i, 11, CountingSecret(4)));
    EXPECT_GE(key.pid, kFirstVirtualPid);
    EXPECT_EQ(InstanceSlotOf(key.pid), kInstanceSlots - 1) << key.pid;
  }
  // Real pids (at most 2^22 on Linux) name no instance.
  EXPECT_EQ(InstanceSlotOf(4'194'304), std::nullopt);
  EXPECT_THROW(map.SetInstanceSlot(kInstanceSlots), std::invalid_argument);
}

TEST(CancelRoutesTest, APidOfAnotherLiveInstanceLeadsToItAndNeverBackToItself) {
  CancelKeyMap own;
  own.SetInstanceSlot(3);
  CancelKeyMap other;
  other.SetInstanceSlot(7);
  CancelRoutes routes;
  routes.Set(3, {{7, CancelPeer{"b", "10.0.0.7", 6432}}});
  const int32_t theirs = other.Register(Target(1, 10, CountingSecret(4))).pid;
  const std::optional<CancelPeer> owner = routes.OwnerOf(theirs);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->instance_id, "b");
  EXPECT_EQ(owner->port, 6432);
  // Its own pid whose key it no longer knows: dropped, not sent around.
  EXPECT_EQ(routes.OwnerOf(own.Register(Target(2, 11, CountingSecret(4))).pid), std::nullopt);
  // A slot no live instance holds, and a pid that is not virtual.
  routes.Set(3, {});
  EXPECT_EQ(routes.OwnerOf(theirs), std::nullopt);
  EXPECT_EQ(routes.OwnerOf(1234), std::nullopt);
}

}  // namespace
}  // namespace pgvalve::proxy
