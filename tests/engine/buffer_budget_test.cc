// The buffered-bytes budget (engine/buffer_budget.h) on its own, from many
// threads (run under ThreadSanitizer with the suite), then inside a real
// engine against the loopback TestOrigin: a body is reserved as it is
// buffered, a fetch that cannot be reserved fails BUFFER_BUDGET_EXCEEDED
// (not truncated), a spent budget refuses new fetches up front, and every
// byte comes back when the answers are dropped.
#include "engine/buffer_budget.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "engine/engine.h"
#include "engine/engine_test_peer.h"
#include "pool/clock.h"
#include "tests/origin/test_origin.h"

namespace fetchpool {
namespace {

TEST(BufferBudgetTest, ReservesUpToTheLimitAllOrNothing) {
  BufferBudget budget(100);
  EXPECT_TRUE(budget.TryReserve(60));
  EXPECT_FALSE(budget.TryReserve(41));
  EXPECT_EQ(budget.used(), 60u);
  EXPECT_TRUE(budget.TryReserve(40));
  EXPECT_TRUE(budget.Exhausted(1));
  budget.Release(100);
  EXPECT_EQ(budget.used(), 0u);
  EXPECT_FALSE(budget.TryReserve(101));
  EXPECT_FALSE(budget.Exhausted(100));
}

TEST(BufferBudgetTest, ALoweredLimitKeepsWhatIsHeldAndRefusesMore) {
  // Engine::Reconfigure: bytes held over a lowered limit are not taken back.
  BufferBudget budget(100);
  EXPECT_TRUE(budget.TryReserve(80));
  budget.SetLimit(50);
  EXPECT_EQ(budget.limit(), 50u);
  EXPECT_EQ(budget.used(), 80u);
  EXPECT_FALSE(budget.TryReserve(1));
  EXPECT_TRUE(budget.Exhausted(1));
  budget.Release(60);
  EXPECT_TRUE(budget.TryReserve(30));
  budget.SetLimit(0);  // unlimited
  EXPECT_TRUE(budget.TryReserve(1000));
}

TEST(BufferBudgetTest, ZeroIsUnlimitedButCounted) {
  BufferBudget budget(0);
  EXPECT_TRUE(budget.TryReserve(uint64_t{1} << 40));
  EXPECT_FALSE(budget.Exhausted(uint64_t{1} << 40));
  EXPECT_EQ(budget.used(), uint64_t{1} << 40);
}

TEST(BufferBudgetTest, ReservationReleasesWhenDestroyedMovedOrReset) {
  auto budget = std::make_shared<BufferBudget>(1000);
  {
    BufferReservation r(budget);
    EXPECT_TRUE(r.GrowTo(300));
    EXPECT_TRUE(r.GrowTo(200));  // already holds more
    EXPECT_EQ(r.bytes(), 300u);
    EXPECT_FALSE(r.GrowTo(1001));
    EXPECT_EQ(r.bytes(), 300u);  // a refused growth changes nothing
    BufferReservation moved = std::move(r);
    EXPECT_EQ(r.bytes(), 0u);
    EXPECT_EQ(budget->used(), 300u);
    BufferReservation other(budget);
    ASSERT_TRUE(other.GrowTo(100));
    other = std::move(moved);  // releases other's 100
    EXPECT_EQ(budget->used(), 300u);
    other.Reset();
    EXPECT_EQ(budget->used(), 0u);
    ASSERT_TRUE(other.GrowTo(50));
  }
  EXPECT_EQ(budget->used(), 0u);
  BufferReservation detached;
  EXPECT_TRUE(detached.GrowTo(1u << 30));  // no budget: nothing to count
}

TEST(BufferBudgetTest, ManyThreadsNeverOvershoot) {
  constexpr uint64_t kLimit = 10000;
  auto budget = std::make_shared<BufferBudget>(kLimit);
  std::vector<std::thread> threads;
  std::atomic<bool> overshoot{false};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        BufferReservation r(budget);
        if (r.GrowTo(1 + (i * 7 + t) % 900)) {
          if (budget->used() > kLimit) overshoot = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(overshoot.load());
  EXPECT_EQ(budget->used(), 0u);
}

// ---- inside the engine ----

constexpr uint64_t kBudget = 1 << 20;  // 1 MiB

class EngineBufferBudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(origin_.Start().ok());
    EngineConfig config;
    config.allow_cidrs = {"127.0.0.0/8"};
    config.event_loops = 2;
    config.max_buffered_bytes = kBudget;
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(std::move(config));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }
  void TearDown() override {
    EXPECT_TRUE(EngineTestPeer::CheckInvariants(*engine_).ok());
    engine_->Shutdown(absl::Seconds(2));
    EXPECT_EQ(engine_->buffered_bytes(), 0u);
    origin_.Stop();
  }

  absl::StatusOr<FetchResult> Fetch(const std::string& path) {
    FetchSpec spec;
    spec.url = origin_.base_url() + path;
    spec.pool_key = absl::StrCat("http://127.0.0.1:", origin_.port());
    spec.deadline = MonotonicClock::Get().Now() + absl::Seconds(30);
    std::promise<absl::StatusOr<FetchResult>> done;
    engine_->Fetch(std::move(spec),
                   [&](absl::StatusOr<FetchResult> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  testing::TestOrigin origin_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineBufferBudgetTest, AnswerHoldsItsBodyUntilDropped) {
  absl::StatusOr<FetchResult> r = Fetch("/bytes?n=100000");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body.size(), 100000u);
  // Content-Length is reserved whole, and the string is sized to it.
  EXPECT_EQ(r->buffer.bytes(), 100000u);
  EXPECT_EQ(engine_->buffered_bytes(), 100000u);
  r = absl::CancelledError("dropped");
  EXPECT_EQ(engine_->buffered_bytes(), 0u);
}

TEST_F(EngineBufferBudgetTest, BodyOfUnknownLengthGrowsItsReservation) {
  absl::StatusOr<FetchResult> r = Fetch("/chunked?n=300000&chunk=10000");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body.size(), 300000u);
  EXPECT_GE(r->buffer.bytes(), 300000u);
  EXPECT_LE(r->buffer.bytes(), 2 * 300000u);
  EXPECT_GE(r->body.capacity(), 300000u);
  EXPECT_EQ(engine_->buffered_bytes(), r->buffer.bytes());
}

TEST_F(EngineBufferBudgetTest, BodyOverTheBudgetFailsInsteadOfTruncating) {
  for (const char* path : {"/bytes?n=2000000", "/chunked?n=2000000&chunk=16384"}) {
    absl::StatusOr<FetchResult> r = Fetch(path);
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
    EXPECT_EQ(ReasonOf(r.status()), "BUFFER_BUDGET_EXCEEDED") << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), "--max_buffered_bytes")) << r.status();
    EXPECT_EQ(engine_->buffered_bytes(), 0u);
  }
  EXPECT_EQ(engine_->buffer_budget_refusals(), 2u);
  // The budget is whole again: a fetch that fits goes through.
  absl::StatusOr<FetchResult> r = Fetch("/bytes?n=500000");
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST_F(EngineBufferBudgetTest, SpentBudgetRefusesNewFetchesUpFront) {
  absl::StatusOr<FetchResult> held = Fetch("/bytes?n=1000000");  // leaves < 64 KiB
  ASSERT_TRUE(held.ok()) << held.status();
  absl::StatusOr<FetchResult> refused = Fetch("/bytes?n=10");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ReasonOf(refused.status()), "BUFFER_BUDGET_EXCEEDED") << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "refused")) << refused.status();
  held = absl::CancelledError("written");
  absl::StatusOr<FetchResult> again = Fetch("/bytes?n=10");
  EXPECT_TRUE(again.ok()) << again.status();
}

}  // namespace
}  // namespace fetchpool
