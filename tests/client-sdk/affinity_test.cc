// Host affinity in the C++ SDK: fetchpool-ring-v1 (HostRing) held to the
// shared vectors of client-sdk/testdata/ring.tsv and to its promises (removing
// a replica moves only its keys; a replica that is down is skipped), and
// ReplicaChannels (one channel per resolved address, the same key always on
// the same channel).
#include <atomic>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client-sdk/cpp/host_ring.h"
#include "client-sdk/cpp/replica_channels.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fetchpool {
namespace {

using ::testing::ElementsAre;

const std::vector<std::string> kThree = {"127.0.0.2:50051", "127.0.0.3:50051", "127.0.0.4:50051"};

std::vector<std::string> OriginKeys(int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(absl::StrCat("http://origin-", i, ".example:80"));
  return keys;
}

TEST(HostRingTest, PicksWhatRingTsvSays) {
  std::ifstream in(FETCHPOOL_SOURCE_DIR "/client-sdk/testdata/ring.tsv");
  ASSERT_TRUE(in) << "cannot read client-sdk/testdata/ring.tsv";
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> fields = absl::StrSplit(line, '\t');
    ASSERT_EQ(fields.size(), 3u) << line;
    const HostRing ring(absl::StrSplit(fields[0], ','));
    const std::string* picked = ring.Pick(fields[1]);
    ASSERT_NE(picked, nullptr) << line;
    EXPECT_EQ(*picked, fields[2]) << "members " << fields[0] << " key " << fields[1];
    ++checked;
  }
  EXPECT_GT(checked, 60);
}

TEST(HostRingTest, MemberOrderAndDuplicatesDoNotMatter) {
  const HostRing sorted(kThree);
  const HostRing shuffled({"127.0.0.4:50051", "127.0.0.2:50051", "127.0.0.3:50051", "127.0.0.2:50051"});
  EXPECT_EQ(shuffled.members(), kThree);
  for (const std::string& key : OriginKeys(200)) EXPECT_EQ(*sorted.Pick(key), *shuffled.Pick(key)) << key;
}

TEST(HostRingTest, RemovingOneOfThreeMovesOnlyTheKeysThatWereOnIt) {
  const HostRing three(kThree);
  const HostRing two({"127.0.0.2:50051", "127.0.0.4:50051"});
  int on_removed = 0;
  const std::vector<std::string> keys = OriginKeys(3000);
  for (const std::string& key : keys) {
    const std::string before = *three.Pick(key);
    const std::string after = *two.Pick(key);
    if (before == "127.0.0.3:50051") {
      ++on_removed;
    } else {
      EXPECT_EQ(after, before) << key << " moved though its replica stayed";
    }
  }
  // About 1/3 of the keys were on the removed replica (256 points each).
  EXPECT_GT(on_removed, 3000 * 0.25);
  EXPECT_LT(on_removed, 3000 * 0.42);
}

TEST(HostRingTest, SkippingAnUnusableMemberPicksAsIfItWereGone) {
  const HostRing three(kThree);
  const HostRing two({"127.0.0.2:50051", "127.0.0.4:50051"});
  std::map<std::string, int> asked;
  for (const std::string& key : OriginKeys(500)) {
    const std::string* picked = three.Pick(key, [&](const std::string& member) {
      ++asked[member];
      return member != "127.0.0.3:50051";
    });
    ASSERT_NE(picked, nullptr);
    EXPECT_EQ(*picked, *two.Pick(key)) << key;
  }
  // Each member is asked at most once per pick, not once per point.
  for (const auto& [member, times] : asked) EXPECT_LE(times, 500) << member;
}

TEST(HostRingTest, NothingToPick) {
  EXPECT_EQ(HostRing({}).Pick("http://a:80"), nullptr);
  EXPECT_EQ(HostRing(kThree).Pick("http://a:80", [](const std::string&) { return false; }), nullptr);
  const HostRing one({"10.0.0.1:50051"});
  for (const std::string& key : OriginKeys(20)) EXPECT_EQ(*one.Pick(key), "10.0.0.1:50051");
}

// A factory that counts the channels it makes. The addresses need no server:
// making a channel does not connect.
struct CountingFactory {
  std::shared_ptr<std::atomic<int>> made = std::make_shared<std::atomic<int>>(0);
  ReplicaChannels::ChannelFactory Get() {
    return [made = made](const std::string& address) {
      ++*made;
      return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    };
  }
};

TEST(ReplicaChannelsTest, ResolvesALiteralToOneChannelAndKeepsEachKeyOnIt) {
  for (const std::string target : {"127.0.0.1:50999", "dns:///127.0.0.1:50999"}) {
    CountingFactory factory;
    ReplicaChannels replicas(target, factory.Get());
    EXPECT_THAT(replicas.Addresses(), ElementsAre("127.0.0.1:50999")) << target;
    const std::shared_ptr<grpc::Channel> first = replicas.ChannelFor("http://origin-0.example:80");
    ASSERT_NE(first, nullptr);
    for (const std::string& key : OriginKeys(50)) {
      EXPECT_EQ(replicas.ChannelFor(key), first) << key;
      EXPECT_EQ(replicas.ChannelFor(key), replicas.ChannelFor(key)) << key;
      EXPECT_EQ(replicas.AddressFor(key), "127.0.0.1:50999");
    }
    EXPECT_EQ(*factory.made, 1);
  }
}

TEST(ReplicaChannelsTest, Ipv6LiteralIsWrittenInBrackets) {
  ReplicaChannels replicas("[::1]:50999", CountingFactory().Get());
  EXPECT_THAT(replicas.Addresses(), ElementsAre("[::1]:50999"));
}

TEST(ReplicaChannelsTest, PicksAsTheRingOverEveryResolvedAddress) {
  // localhost is 127.0.0.1 and often ::1 too: whatever it resolves to, each
  // key goes where fetchpool-ring-v1 over those addresses sends it.
  CountingFactory factory;
  ReplicaChannels replicas("localhost:50999", factory.Get());
  const std::vector<std::string> addresses = replicas.Addresses();
  ASSERT_FALSE(addresses.empty());
  EXPECT_EQ(*factory.made, static_cast<int>(addresses.size()));
  const HostRing ring(addresses);
  for (const std::string& key : OriginKeys(100)) {
    EXPECT_EQ(replicas.AddressFor(key), *ring.Pick(key)) << key;
    EXPECT_EQ(replicas.ChannelFor(key), replicas.ChannelFor(key)) << key;
  }
}

TEST(ReplicaChannelsTest, RefreshKeepsTheChannelsOfAddressesThatStay) {
  CountingFactory factory;
  ReplicaChannels replicas("127.0.0.1:50999", factory.Get(), absl::Milliseconds(20));
  const std::shared_ptr<grpc::Channel> before = replicas.ChannelFor("http://a:80");
  replicas.RefreshSoon();
  absl::SleepFor(absl::Milliseconds(150));  // several periodic refreshes too
  EXPECT_EQ(replicas.ChannelFor("http://a:80"), before);
  EXPECT_EQ(*factory.made, 1);
}

TEST(ReplicaChannelsTest, NothingResolvedGivesNoChannel) {
  ReplicaChannels replicas("dns:///:50999", CountingFactory().Get());
  EXPECT_TRUE(replicas.Addresses().empty());
  EXPECT_EQ(replicas.ChannelFor("http://a:80"), nullptr);
  EXPECT_EQ(replicas.AddressFor("http://a:80"), "");
}

TEST(ReplicaChannelsTest, AReplicaInTransientFailureIsStillUsedWhenItIsTheOnlyOne) {
  // Port 1 on loopback refuses: the channel goes TRANSIENT_FAILURE. With no
  // other replica the plain pick stands, so the call gets gRPC's own error.
  ReplicaChannels replicas("127.0.0.1:1", CountingFactory().Get());
  const std::shared_ptr<grpc::Channel> channel = replicas.ChannelFor("http://a:80");
  ASSERT_NE(channel, nullptr);
  channel->GetState(/*try_to_connect=*/true);
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (channel->GetState(false) != GRPC_CHANNEL_TRANSIENT_FAILURE && absl::Now() < give_up) {
    channel->WaitForStateChange(channel->GetState(false), absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
  }
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_TRANSIENT_FAILURE);
  EXPECT_EQ(replicas.ChannelFor("http://a:80"), channel);
}

}  // namespace
}  // namespace fetchpool
