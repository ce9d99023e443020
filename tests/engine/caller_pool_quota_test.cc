// Greedy callers and new host pools: the per-caller quota
// (engine/caller_pool_quota.h) on its own, then in a real engine: a caller
// creating pools for many hosts is stopped at its quota while another
// caller still gets a pool for a new host at once, and a full pool table
// gives the greedy caller's empty pools up before refusing anyone.
// The hosts are IP literals in 127.0.0.0/8 with nothing listening (port 1):
// no DNS is ever asked and no packet leaves the machine; pools are created
// before the connect, which is refused.
#include "engine/caller_pool_quota.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "engine/engine.h"
#include "engine/engine_test_peer.h"
#include "pool/clock.h"

namespace fetchpool {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000000);

TEST(CallerPoolQuotaTest, CountsPerCallerPerMinute) {
  CallerPoolQuota quota(3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(quota.TryTake("a", kT0 + absl::Seconds(i)));
  EXPECT_FALSE(quota.TryTake("a", kT0 + absl::Seconds(30)));
  EXPECT_TRUE(quota.TryTake("b", kT0 + absl::Seconds(30)));  // others unaffected
  quota.GiveBack("a");
  EXPECT_TRUE(quota.TryTake("a", kT0 + absl::Seconds(31)));
  EXPECT_FALSE(quota.TryTake("a", kT0 + absl::Seconds(59)));
  EXPECT_TRUE(quota.TryTake("a", kT0 + absl::Seconds(60)));  // a new window
}

TEST(CallerPoolQuotaTest, ZeroIsUnlimited) {
  CallerPoolQuota quota(0);
  for (int i = 0; i < 10000; ++i) EXPECT_TRUE(quota.TryTake("a", kT0));
  EXPECT_EQ(quota.tracked_callers(), 0u);
}

TEST(CallerPoolQuotaTest, ANewLimitAppliesToTheCurrentWindow) {
  // Engine::Reconfigure: what a caller created this minute still counts.
  CallerPoolQuota quota(5);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(quota.TryTake("a", kT0));
  quota.SetPerMinute(3);
  EXPECT_EQ(quota.per_minute(), 3u);
  EXPECT_FALSE(quota.TryTake("a", kT0 + absl::Seconds(1)));
  quota.SetPerMinute(4);
  EXPECT_TRUE(quota.TryTake("a", kT0 + absl::Seconds(2)));
  quota.SetPerMinute(0);  // unlimited
  EXPECT_TRUE(quota.TryTake("a", kT0 + absl::Seconds(3)));
}

TEST(CallerPoolQuotaTest, ForgetsCallersWhoseWindowEnded) {
  CallerPoolQuota quota(10);
  // 100,000 callers, one pool each, a thousand a second: the table holds
  // about those of the last minute (twice that at most), never all of them.
  size_t most = 0;
  for (int i = 0; i < 100000; ++i) {
    ASSERT_TRUE(quota.TryTake(absl::StrCat("caller-", i), kT0 + absl::Milliseconds(i)));
    most = std::max(most, quota.tracked_callers());
  }
  EXPECT_LE(most, 2 * 60000u + 64);
  EXPECT_LT(most, 100000u);
}

class PoolQuotaEngineTest : public ::testing::Test {
 protected:
  void Start(uint32_t max_pools, uint32_t quota) {
    EngineConfig config;
    config.allow_cidrs = {"127.0.0.0/8"};
    config.event_loops = 1;  // one table: which pool goes is predictable
    config.max_pools = max_pools;
    config.max_new_pools_per_caller_per_minute = quota;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(std::move(config));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }
  void TearDown() override {
    if (engine_ == nullptr) return;
    EXPECT_TRUE(EngineTestPeer::CheckInvariants(*engine_).ok());
    engine_->Shutdown(absl::Seconds(2));
  }

  // A fetch for host 127.0.<n/250>.<n%250+2>, port 1 (refused at once).
  absl::Status FetchHost(const std::string& caller, int n) {
    const std::string host = absl::StrCat("127.0.", n / 250, ".", n % 250 + 2);
    FetchSpec spec;
    spec.url = absl::StrCat("http://", host, ":1/");
    spec.pool_key = absl::StrCat("http://", host, ":1");
    spec.caller = caller;
    spec.deadline = MonotonicClock::Get().Now() + absl::Seconds(30);
    // The whole result moves to this thread: a Status copied on the loop
    // would share its payload with one destroyed there.
    std::promise<absl::StatusOr<FetchResult>> done;
    engine_->Fetch(std::move(spec),
                   [&](absl::StatusOr<FetchResult> r) { done.set_value(std::move(r)); });
    return done.get_future().get().status();
  }

  uint32_t PoolCount() {
    std::promise<uint32_t> done;
    engine_->GetStats("", [&](Engine::StatsResult r) { done.set_value(r.pool_count); });
    return done.get_future().get();
  }

  std::unique_ptr<Engine> engine_;
};

TEST_F(PoolQuotaEngineTest, GreedyCallerIsStoppedOthersStillGetNewHosts) {
  Start(/*max_pools=*/100000, /*quota=*/20);
  int refused = 0;
  for (int n = 0; n < 100; ++n) {
    absl::Status s = FetchHost("greedy", n);
    if (ReasonOf(s) == "CALLER_QUOTA_EXCEEDED") {
      ++refused;
      EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
      EXPECT_NE(s.message().find("--max_new_pools_per_caller_per_minute"), std::string::npos) << s;
    } else {
      EXPECT_FALSE(s.ok());  // nothing listens on port 1
    }
  }
  EXPECT_EQ(refused, 80);
  // An existing pool is not a new one: the greedy caller still reaches it.
  EXPECT_NE(ReasonOf(FetchHost("greedy", 0)), "CALLER_QUOTA_EXCEEDED");
  // Another caller gets a pool for a new host at once.
  absl::Status other = FetchHost("polite", 500);
  EXPECT_NE(ReasonOf(other), "CALLER_QUOTA_EXCEEDED") << other;
  EXPECT_EQ(PoolCount(), 21u);
}

TEST_F(PoolQuotaEngineTest, FullTableGivesUpTheGreedyCallersEmptyPoolsFirst) {
  Start(/*max_pools=*/10, /*quota=*/0);
  for (int n = 0; n < 8; ++n) EXPECT_NE(ReasonOf(FetchHost("greedy", n)), "QUEUE_FULL");
  for (int n = 100; n < 102; ++n) EXPECT_NE(ReasonOf(FetchHost("polite", n)), "QUEUE_FULL");
  EXPECT_EQ(PoolCount(), 10u);
  // The table is full of empty pools, long before evict_empty_pool_after
  // (2 minutes): new hosts still get pools, the greedy caller's recycled.
  for (int n = 8; n < 40; ++n) {
    absl::Status s = FetchHost("greedy", n);
    EXPECT_NE(ReasonOf(s), "QUEUE_FULL") << s;
  }
  absl::Status s = FetchHost("newcomer", 200);
  EXPECT_NE(ReasonOf(s), "QUEUE_FULL") << s;
  EXPECT_EQ(PoolCount(), 10u);
  // The polite caller's pools were never the ones to go.
  std::promise<Engine::StatsResult> stats;
  engine_->GetStats("", [&](Engine::StatsResult r) { stats.set_value(std::move(r)); });
  Engine::StatsResult r = stats.get_future().get();
  int polite = 0;
  for (const auto& pool : r.pools) {
    if (pool.host == "http://127.0.0.102:1" || pool.host == "http://127.0.0.103:1") ++polite;
  }
  EXPECT_EQ(polite, 2);
}

}  // namespace
}  // namespace fetchpool
