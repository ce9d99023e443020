// Engine::Reconfigure against a real origin on loopback: limits seen in
// Stats, egress profiles swapped whole, restart-only and invalid configs
// refused with the old config left in force, and fetches in flight across
// reconfigurations (none lost, none killed). CheckLiveChange on its own.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "engine/engine.h"
#include "engine/engine_test_peer.h"
#include "pool/clock.h"
#include "tests/origin/test_origin.h"
#include "tests/poll_until.h"

namespace fetchpool {
namespace {

using testing::PollUntil;
using testing::TestOrigin;

class EngineReconfigureTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(origin_.Start().ok()); }
  void TearDown() override {
    if (engine_ != nullptr) {
      const absl::Status invariants = EngineTestPeer::CheckInvariants(*engine_);
      EXPECT_TRUE(invariants.ok()) << invariants;
      engine_->Shutdown(absl::Seconds(2));
    }
    origin_.Stop();
  }

  std::string key() const { return absl::StrCat("http://127.0.0.1:", origin_.port()); }

  // One loop, loopback allowed, this origin's pool capped at `cap`.
  EngineConfig Config(uint32_t cap) const {
    EngineConfig config;
    config.event_loops = 1;
    config.allow_cidrs = {"127.0.0.0/8"};
    config.per_host[key()].pool.max_connections = cap;
    return config;
  }
  void Start(EngineConfig config) {
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(std::move(config));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  FetchSpec Spec(const std::string& path) const {
    FetchSpec spec;
    spec.url = origin_.base_url() + path;
    spec.pool_key = key();
    spec.replayable = true;
    spec.deadline = MonotonicClock::Get().Now() + absl::Seconds(10);
    return spec;
  }
  absl::StatusOr<FetchResult> FetchAndWait(const std::string& path) {
    std::promise<absl::StatusOr<FetchResult>> done;
    engine_->Fetch(Spec(path), [&](absl::StatusOr<FetchResult> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }
  // This origin's pool as Stats shows it (the Stats RPC reads the same).
  HostPoolStatsSnapshot PoolStats() {
    std::promise<Engine::StatsResult> done;
    engine_->GetStats(key(), [&](Engine::StatsResult r) { done.set_value(std::move(r)); });
    Engine::StatsResult r = done.get_future().get();
    EXPECT_EQ(r.pools.size(), 1u);
    return r.pools.empty() ? HostPoolStatsSnapshot{} : r.pools[0];
  }

  TestOrigin origin_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineReconfigureTest, PerHostCapChangesAreSeenInStats) {
  Start(Config(4));
  ASSERT_TRUE(FetchAndWait("/echo").ok());
  EXPECT_EQ(PoolStats().max_connections, 4u);

  ASSERT_EQ(engine_->Reconfigure(Config(2)), absl::OkStatus());
  EXPECT_EQ(PoolStats().max_connections, 2u) << "a host's entry changed";

  EngineConfig removed = Config(2);
  removed.per_host.clear();
  removed.defaults.pool.max_connections = 7;
  ASSERT_EQ(engine_->Reconfigure(removed), absl::OkStatus());
  EXPECT_EQ(PoolStats().max_connections, 7u) << "a host's entry removed: the defaults apply";

  ASSERT_EQ(engine_->Reconfigure(Config(3)), absl::OkStatus());
  EXPECT_EQ(PoolStats().max_connections, 3u) << "a host's entry added";
  EXPECT_TRUE(FetchAndWait("/echo").ok());
}

TEST_F(EngineReconfigureTest, EgressProfilesAreSwappedForNewFetches) {
  Start(Config(4));
  ASSERT_TRUE(FetchAndWait("/echo").ok()) << "allowed before";

  EngineConfig deny = Config(4);
  deny.deny_cidrs = {"127.0.0.1/32"};
  ASSERT_EQ(engine_->Reconfigure(deny), absl::OkStatus());
  absl::StatusOr<FetchResult> denied = FetchAndWait("/echo");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(ReasonOf(denied.status()), "DESTINATION_DENIED") << denied.status();

  ASSERT_EQ(engine_->Reconfigure(Config(4)), absl::OkStatus());
  EXPECT_TRUE(FetchAndWait("/echo").ok()) << "allowed again";
}

TEST_F(EngineReconfigureTest, EventLoopsChangeIsRefusedAndTheOldConfigStays) {
  Start(Config(4));
  ASSERT_TRUE(FetchAndWait("/echo").ok());
  EngineConfig more_loops = Config(2);
  more_loops.event_loops = 2;
  const absl::Status s = engine_->Reconfigure(more_loops);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("event_loops"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("restart"), absl::string_view::npos) << s;
  EXPECT_EQ(PoolStats().max_connections, 4u) << "nothing of the refused config applied";
}

TEST_F(EngineReconfigureTest, InvalidConfigIsRefusedAndTheOldConfigStays) {
  Start(Config(4));
  ASSERT_TRUE(FetchAndWait("/echo").ok());

  EngineConfig zero_cap = Config(0);
  absl::Status s = engine_->Reconfigure(zero_cap);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("max_connections"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find(key()), absl::string_view::npos) << "names the host: " << s;

  EngineConfig bad_cidr = Config(2);
  bad_cidr.deny_cidrs = {"127.0.0.1/99"};
  s = engine_->Reconfigure(bad_cidr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;

  EXPECT_EQ(PoolStats().max_connections, 4u);
  EXPECT_TRUE(FetchAndWait("/echo").ok()) << "the old profiles are still in force";
}

TEST_F(EngineReconfigureTest, RunningFetchesKeepTheirSettingsNewOnesGetTheNew) {
  Start(Config(4));
  std::promise<absl::StatusOr<FetchResult>> running;
  engine_->Fetch(Spec("/sleep?ms=300"),
                 [&](absl::StatusOr<FetchResult> r) { running.set_value(std::move(r)); });
  ASSERT_TRUE(PollUntil([&] { return PoolStats().busy_connections == 1; }));

  EngineConfig tiny = Config(4);
  tiny.per_host[key()].fetch.max_response_bytes = 2;
  ASSERT_EQ(engine_->Reconfigure(tiny), absl::OkStatus());

  absl::StatusOr<FetchResult> before = running.get_future().get();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->body, "slept");
  absl::StatusOr<FetchResult> after = FetchAndWait("/sleep?ms=1");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(ReasonOf(after.status()), "RESPONSE_TOO_LARGE") << after.status();
}

TEST_F(EngineReconfigureTest, FetchesInFlightAcrossReconfigurationsAllSucceed) {
  Start(Config(8));
  constexpr int kFetches = 48;
  std::vector<std::promise<absl::StatusOr<FetchResult>>> answers(kFetches);
  std::atomic<bool> fetching{true};
  // Caps shrink below the busy count and grow again while fetches arrive.
  std::thread reloader([&] {
    const uint32_t caps[] = {2, 6, 1, 8, 3, 8};
    while (fetching.load()) {
      for (uint32_t cap : caps) {
        EXPECT_EQ(engine_->Reconfigure(Config(cap)), absl::OkStatus());
        EXPECT_EQ(EngineTestPeer::CheckInvariants(*engine_), absl::OkStatus()) << "cap " << cap;
        absl::SleepFor(absl::Milliseconds(15));
      }
    }
  });
  for (int i = 0; i < kFetches; ++i) {
    engine_->Fetch(Spec("/sleep?ms=40"), [&answers, i](absl::StatusOr<FetchResult> r) {
      answers[i].set_value(std::move(r));
    });
    if (i % 8 == 7) absl::SleepFor(absl::Milliseconds(20));
  }
  int ok = 0;
  for (auto& answer : answers) {
    absl::StatusOr<FetchResult> r = answer.get_future().get();
    EXPECT_TRUE(r.ok()) << r.status();
    ok += r.ok() ? 1 : 0;
  }
  fetching = false;
  reloader.join();
  EXPECT_EQ(ok, kFetches);
  EXPECT_EQ(EngineTestPeer::CheckInvariants(*engine_), absl::OkStatus());
  // The last config (cap 8) is the one in force, and the pool is within it.
  const HostPoolStatsSnapshot s = PoolStats();
  EXPECT_EQ(s.max_connections, 8u);
  EXPECT_LE(s.busy_connections + s.idle_connections + s.connecting_connections, 8u);
}

TEST_F(EngineReconfigureTest, EngineWideLimitsChangeLive) {
  Start(Config(4));
  EngineConfig next = Config(4);
  next.max_buffered_bytes = 12345678;
  ASSERT_EQ(engine_->Reconfigure(next), absl::OkStatus());
  EXPECT_EQ(engine_->max_buffered_bytes(), 12345678u);
}

TEST(CheckLiveChangeTest, TlsSettingsAreRestartOnlyOtherHostChangesAreNot) {
  EngineConfig running;
  running.event_loops = 2;
  EngineConfig next = running;
  next.per_host["http://a:80"].pool.max_connections = 3;  // added, default TLS
  next.defaults.fetch.connect_timeout = absl::Seconds(1);
  EXPECT_EQ(CheckLiveChange(running, next, 2), absl::OkStatus());

  EngineConfig ca = next;
  ca.per_host["https://b:443"].fetch.ca_file = "/etc/b.pem";
  const absl::Status s = CheckLiveChange(running, ca, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ca_file of https://b:443"), absl::string_view::npos) << s;

  EngineConfig skip = next;
  skip.defaults.fetch.insecure_skip_verify = true;
  EXPECT_NE(CheckLiveChange(running, skip, 2).message().find("insecure_skip_verify"),
            absl::string_view::npos);

  // The loop count is compared with what was asked at start and with the
  // loops running: "one per CPU" is refused where 2 were asked for, and
  // naming the count that "one per CPU" gave changes nothing.
  EngineConfig by_cpu = running;
  by_cpu.event_loops = 0;
  EXPECT_EQ(CheckLiveChange(running, by_cpu, 2).code(), absl::StatusCode::kInvalidArgument);
  EngineConfig named = by_cpu;
  named.event_loops = 2;
  EXPECT_EQ(CheckLiveChange(by_cpu, named, 2), absl::OkStatus());
}

}  // namespace
}  // namespace fetchpool
