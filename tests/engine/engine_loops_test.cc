// The engine on several event loops (no gRPC): each host's pool lives on
// one loop, so its cap stays exact; fetches that a redirect sends to a host
// of another loop move there and can still be cancelled; stats and
// shutdown span every loop. Run under ThreadSanitizer with the suite.
#include <dirent.h>

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <string>
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

constexpr uint32_t kLoops = 4;
constexpr int kOrigins = 8;

class EngineLoopsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kOrigins; ++i) {
      origins_.push_back(std::make_unique<TestOrigin>());
      ASSERT_TRUE(origins_.back()->Start().ok());
    }
  }

  void Start(EngineConfig config) {
    config.allow_cidrs = {"127.0.0.0/8"};
    config.event_loops = kLoops;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(std::move(config));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  void TearDown() override {
    if (engine_ != nullptr) {
      EXPECT_TRUE(EngineTestPeer::CheckInvariants(*engine_).ok())
          << EngineTestPeer::CheckInvariants(*engine_);
      engine_->Shutdown(absl::Seconds(2));
    }
    for (auto& origin : origins_) origin->Stop();
  }

  static std::string KeyOf(const TestOrigin& o) { return absl::StrCat("http://127.0.0.1:", o.port()); }

  static FetchSpec Spec(const TestOrigin& o, const std::string& path) {
    FetchSpec spec;
    spec.url = o.base_url() + path;
    spec.pool_key = KeyOf(o);
    spec.replayable = true;
    spec.deadline = MonotonicClock::Get().Now() + absl::Seconds(20);
    return spec;
  }

  absl::StatusOr<FetchResult> FetchAndWait(FetchSpec spec) {
    std::promise<absl::StatusOr<FetchResult>> done;
    engine_->Fetch(std::move(spec), [&](absl::StatusOr<FetchResult> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  Engine::StatsResult Stats(const std::string& key = "") {
    std::promise<Engine::StatsResult> done;
    engine_->GetStats(key, [&](Engine::StatsResult r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  // Two origins whose pools live on different loops.
  std::pair<TestOrigin*, TestOrigin*> OnTwoLoops() {
    for (auto& a : origins_) {
      for (auto& b : origins_) {
        if (EngineTestPeer::LoopFor(*engine_, KeyOf(*a)) !=
            EngineTestPeer::LoopFor(*engine_, KeyOf(*b))) {
          return {a.get(), b.get()};
        }
      }
    }
    return {nullptr, nullptr};
  }

  std::vector<std::unique_ptr<TestOrigin>> origins_;
  std::unique_ptr<Engine> engine_;
};

// The names of this process's threads.
std::multiset<std::string> ThreadNames() {
  std::multiset<std::string> names;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return names;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(absl::StrCat("/proc/self/task/", e->d_name, "/comm"));
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  closedir(dir);
  return names;
}

TEST_F(EngineLoopsTest, OneNamedThreadPerLoop) {
  Start(EngineConfig{});
  EXPECT_EQ(engine_->event_loops(), kLoops);
  const std::multiset<std::string> names = ThreadNames();
  for (uint32_t i = 0; i < kLoops; ++i) {
    EXPECT_EQ(names.count(absl::StrCat("fp-loop-", i)), 1u) << "fp-loop-" << i;
  }
}

TEST_F(EngineLoopsTest, TheDefaultIsOneLoopPerUsableCpu) {
  EngineConfig config;
  config.allow_cidrs = {"127.0.0.0/8"};
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(config);
  ASSERT_TRUE(engine.ok());
  EXPECT_EQ((*engine)->event_loops(), UsableCpuCount());
  EXPECT_GE(UsableCpuCount(), 1u);
  config.event_loops = kMaxEventLoops + 1;
  EXPECT_FALSE(Engine::Create(config).ok());
}

TEST_F(EngineLoopsTest, HostsSpreadOverTheLoopsAndEachCapStaysExact) {
  EngineConfig config;
  config.defaults.pool.max_connections = 2;
  config.defaults.pool.wait_timeout = absl::Seconds(20);
  Start(config);
  std::set<uint32_t> loops_used;
  for (auto& o : origins_) loops_used.insert(EngineTestPeer::LoopFor(*engine_, KeyOf(*o)));
  EXPECT_GT(loops_used.size(), 1u) << "8 hosts all hashed to one of 4 loops";

  constexpr int kPerOrigin = 12;
  std::vector<std::promise<absl::StatusOr<FetchResult>>> answers(kOrigins * kPerOrigin);
  int n = 0;
  for (int i = 0; i < kPerOrigin; ++i) {
    for (auto& o : origins_) {
      auto* answer = &answers[n++];
      engine_->Fetch(Spec(*o, "/sleep?ms=20"),
                     [answer](absl::StatusOr<FetchResult> r) { answer->set_value(std::move(r)); });
    }
  }
  for (auto& answer : answers) {
    absl::StatusOr<FetchResult> r = answer.get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
  Engine::StatsResult stats = Stats();
  EXPECT_EQ(stats.pool_count, static_cast<uint32_t>(kOrigins));
  ASSERT_EQ(stats.pools.size(), static_cast<size_t>(kOrigins));
  for (const HostPoolStatsSnapshot& pool : stats.pools) {
    EXPECT_EQ(pool.requests_total, static_cast<uint64_t>(kPerOrigin)) << pool.host;
    EXPECT_LE(pool.connections_opened_total, 2u) << pool.host << ": the cap is per host, not per loop";
  }
  EXPECT_EQ(stats.totals.requests_total, static_cast<uint64_t>(kOrigins * kPerOrigin));
  for (auto& o : origins_) EXPECT_LE(o->connections_accepted(), 2);
  // One host's filter finds its pool on whichever loop holds it.
  Engine::StatsResult one = Stats(KeyOf(*origins_[3]));
  ASSERT_EQ(one.pools.size(), 1u);
  EXPECT_EQ(one.pools[0].host, KeyOf(*origins_[3]));
  EXPECT_EQ(one.totals.requests_total, stats.totals.requests_total) << "totals cover every pool";
}

TEST_F(EngineLoopsTest, ARedirectToAHostOfAnotherLoopMovesTheFetchThere) {
  Start(EngineConfig{});
  auto [from, to] = OnTwoLoops();
  ASSERT_NE(from, nullptr);
  FetchSpec spec = Spec(*from, absl::StrCat("/redirect?to=", to->base_url(), "/echo&code=302"));
  spec.follow_redirects = true;
  absl::StatusOr<FetchResult> r = FetchAndWait(spec);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->redirects, 1u);
  EXPECT_EQ(r->pool, KeyOf(*to));
  // Each pool sits on its own host's loop only: one pool per host in all.
  Engine::StatsResult stats = Stats();
  EXPECT_EQ(stats.pool_count, 2u);
  EXPECT_EQ(Stats(KeyOf(*to)).pools.at(0).requests_total, 1u);
  // And back again, to the first loop.
  spec = Spec(*to, absl::StrCat("/redirect?to=", from->base_url(), "/status/204&code=307"));
  spec.follow_redirects = true;
  r = FetchAndWait(spec);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(Stats().pool_count, 2u);
}

TEST_F(EngineLoopsTest, AFetchThatMovedCanStillBeCancelled) {
  EngineConfig config;
  config.defaults.fetch.on_deadline = OnDeadline::kAbort;
  Start(config);
  auto [from, to] = OnTwoLoops();
  ASSERT_NE(from, nullptr);
  FetchSpec spec = Spec(*from, absl::StrCat("/redirect?to=", to->base_url(), "/sleep%3Fms%3D10000"));
  spec.follow_redirects = true;
  std::promise<absl::StatusOr<FetchResult>> done;
  const Engine::FetchId id = engine_->Fetch(
      std::move(spec), [&](absl::StatusOr<FetchResult> r) { done.set_value(std::move(r)); });
  // Wait until the fetch is running on the other loop's pool.
  ASSERT_TRUE(PollUntil([&] {
    Engine::StatsResult s = Stats(KeyOf(*to));
    return !s.pools.empty() && s.pools[0].busy_connections == 1;
  }));
  const absl::Time cancelled_at = absl::Now();
  engine_->Cancel(id);  // goes to the fetch's first loop, which forwards it
  absl::StatusOr<FetchResult> r = done.get_future().get();
  EXPECT_EQ(ReasonOf(r.status()), "CANCELLED") << r.status();
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(5));
  EXPECT_TRUE(PollUntil([&] { return Stats(KeyOf(*to)).pools.at(0).busy_connections == 0; }));
}

TEST_F(EngineLoopsTest, StatsAnswersKeepTheOrderOfTheRequests) {
  Start(EngineConfig{});
  for (auto& o : origins_) ASSERT_TRUE(FetchAndWait(Spec(*o, "/echo")).ok());
  constexpr int kRequests = 50;
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> all;
  for (int i = 0; i < kRequests; ++i) {
    engine_->GetStats("", [&, i](Engine::StatsResult r) {
      EXPECT_EQ(r.pool_count, static_cast<uint32_t>(kOrigins));
      EXPECT_EQ(r.pools.size(), static_cast<size_t>(kOrigins));
      bool last;
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
        last = order.size() == kRequests;
      }
      // Outside the lock: once woken, the test returns and `mu` is gone.
      if (last) all.set_value();
    });
  }
  all.get_future().wait();
  for (int i = 0; i < kRequests; ++i) EXPECT_EQ(order[i], i);
}

TEST_F(EngineLoopsTest, ShutdownLetsEveryLoopFinishItsFetches) {
  Start(EngineConfig{});
  std::vector<std::promise<absl::StatusOr<FetchResult>>> answers(kOrigins * 3);
  int n = 0;
  for (int i = 0; i < 3; ++i) {
    for (auto& o : origins_) {
      auto* answer = &answers[n++];
      engine_->Fetch(Spec(*o, "/sleep?ms=300"),
                     [answer](absl::StatusOr<FetchResult> r) { answer->set_value(std::move(r)); });
    }
  }
  ASSERT_TRUE(PollUntil([&] { return Stats().totals.busy_connections > 0; }));
  engine_->Shutdown(absl::Seconds(10));
  for (auto& answer : answers) {
    absl::StatusOr<FetchResult> r = answer.get_future().get();
    EXPECT_TRUE(r.ok()) << r.status();
  }
  // A fetch posted to a stopped loop is still answered, once, when the
  // engine goes away.
  std::vector<std::promise<absl::StatusOr<FetchResult>>> late(kOrigins);
  for (int i = 0; i < kOrigins; ++i) {
    auto* answer = &late[i];
    engine_->Fetch(Spec(*origins_[i], "/echo"),
                   [answer](absl::StatusOr<FetchResult> r) { answer->set_value(std::move(r)); });
  }
  engine_.reset();
  for (auto& answer : late) EXPECT_EQ(ReasonOf(answer.get_future().get().status()), "SHUTTING_DOWN");
}

}  // namespace
}  // namespace fetchpool
