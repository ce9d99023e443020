// The pool keeps its own books and arms its own timer: the counters its
// owner used to bump in pairs, and the next-deadline timer the owner used to
// recompute after every call (tests/pool/host_pool_test.cc covers the state
// machine itself).
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "pool/host_pool.h"
#include "common/reason.h"
#include "tests/pool/fake_clock.h"
#include "tests/pool/fake_transport.h"
#include "tests/pool/host_pool_fixture.h"

namespace fetchpool {
namespace {

constexpr char kKey[] = "http://books.test:80";

// Records every ArmAt; fires on demand, like a loop timer would.
class RecordingTimers final : public TimerFactory {
 public:
  struct Timer final : PoolTimer {
    RecordingTimers* owner;
    absl::AnyInvocable<void()> on_fire;
    void ArmAt(absl::Time when) override { owner->armed.push_back(when); }
  };
  std::unique_ptr<PoolTimer> CreateTimer(absl::AnyInvocable<void()> on_fire) override {
    auto timer = std::make_unique<Timer>();
    timer->owner = this;
    timer->on_fire = std::move(on_fire);
    last = timer.get();
    return timer;
  }
  // A fired timer is disarmed until armed again.
  void Fire() {
    armed.push_back(absl::InfiniteFuture());
    last->on_fire();
  }
  absl::Time current() const { return armed.empty() ? absl::InfiniteFuture() : armed.back(); }

  std::vector<absl::Time> armed;
  Timer* last = nullptr;
};

// The pool is built here, with timers_, not by MakePool; no lease goes
// through recorder_.
class HostPoolBooksTest : public HostPoolFixture {
 protected:
  HostPoolBooksTest() : HostPoolFixture(kKey) {
    HostPoolConfig config;
    config.max_connections = 2;
    config.wait_timeout = absl::Seconds(1);
    config.idle_timeout = absl::Seconds(10);
    pool_ = std::make_unique<HostPool>(kKey, config, clock_, transport_, &timers_);
  }
  // Before timers_ goes.
  ~HostPoolBooksTest() override { pool_.reset(); }
  // Unlike HostPoolFixture::TearDown: the pool lives until the destructor and
  // nothing is checked after it.
  void TearDown() override {}

  // Leases at once; returns the slot.
  Slot* Lease(HostPool::AcquireOptions options = {}) {
    Slot* slot = nullptr;
    pool_->Acquire(
        clock_.Now() + absl::Seconds(1),
        [&](absl::StatusOr<fetchpool::Lease> lease) {
          ASSERT_TRUE(lease.ok()) << lease.status();
          slot = lease->slot;
        },
        options);
    EXPECT_NE(slot, nullptr);
    return slot;
  }
  const HostPoolStatsSnapshot& books() const { return pool_->counters(); }
  void ExpectInvariants() { EXPECT_TRUE(pool_->CheckInvariants().ok()) << pool_->CheckInvariants(); }

  RecordingTimers timers_;
};

TEST_F(HostPoolBooksTest, RequestsReuseAndQueueWaitAreCountedWhereTheyHappen) {
  Slot* a = Lease();
  pool_->MarkConnected(a);
  pool_->Release(a, ExchangeEnd::kComplete);
  EXPECT_EQ(books().requests_total, 1u);
  EXPECT_EQ(books().reused_requests_total, 0u) << "a first exchange is not a reuse";
  Slot* again = Lease();
  EXPECT_EQ(again, a);
  pool_->Release(again, ExchangeEnd::kCompleteClosed);
  EXPECT_EQ(books().requests_total, 2u);
  EXPECT_EQ(books().reused_requests_total, 1u);
  EXPECT_EQ(books().closed_upstream_total, 1u);
  EXPECT_EQ(books().queue_wait.count(), 2u);
  ExpectInvariants();
}

TEST_F(HostPoolBooksTest, AFailedExchangeOnAReusedConnectionIsNotAReuse) {
  Slot* a = Lease();
  pool_->Release(a, ExchangeEnd::kComplete);
  Slot* b = Lease();
  pool_->Release(b, ExchangeEnd::kStale);
  EXPECT_EQ(books().reused_requests_total, 0u);
  EXPECT_EQ(books().stale_caught_total, 1u);
  ExpectInvariants();
}

TEST_F(HostPoolBooksTest, ConnectionReplacedKeepsOpenedMinusClosedEqualToSlots) {
  Slot* a = Lease();
  pool_->Release(a, ExchangeEnd::kComplete);
  Slot* b = Lease();
  pool_->ConnectionReplaced(b);  // curl redialled inside the slot
  ExpectInvariants();
  pool_->Release(b, ExchangeEnd::kComplete);
  EXPECT_EQ(books().connections_opened_total, 2u);
  EXPECT_EQ(books().connections_closed_total, 1u);
  EXPECT_EQ(books().stale_caught_total, 1u);
  EXPECT_EQ(books().reused_requests_total, 0u) << "it ran on a new connection";
  ExpectInvariants();
}

TEST_F(HostPoolBooksTest, AReplayIsARetry) {
  Slot* a = Lease();
  pool_->Release(a, ExchangeEnd::kStale);
  HostPool::AcquireOptions replay;
  replay.replay = true;
  Slot* b = Lease(replay);
  EXPECT_EQ(books().retries_total, 1u);
  EXPECT_EQ(books().requests_total, 2u);
  pool_->Release(b, ExchangeEnd::kComplete);
  ExpectInvariants();
}

TEST_F(HostPoolBooksTest, ARefusedStreamSentAgainIsCountedApartFromRetries) {
  Slot* a = Lease();
  pool_->Release(a, ExchangeEnd::kAborted);
  HostPool::AcquireOptions again;  // the first time it asks like any fetch
  again.refused_stream = true;
  Slot* b = Lease(again);
  EXPECT_EQ(books().refused_streams_total, 1u);
  EXPECT_EQ(books().retries_total, 0u);
  pool_->Release(b, ExchangeEnd::kAborted);
  again.replay = true;  // refused again: a connection of its own
  Slot* c = Lease(again);
  EXPECT_EQ(books().refused_streams_total, 2u);
  EXPECT_EQ(books().retries_total, 1u);
  pool_->Release(c, ExchangeEnd::kComplete);
  ExpectInvariants();
}

TEST_F(HostPoolBooksTest, FetchEndsAreRecordedWithTheirReason) {
  pool_->RecordFetchEnd(absl::Milliseconds(3), absl::OkStatus());
  pool_->RecordFetchEnd(absl::Milliseconds(4), MakeError(Reason::kConnectRefused, "no"));
  pool_->RecordDnsLookup();
  EXPECT_EQ(books().fetch_time.count(), 2u);
  EXPECT_EQ(books().failures_total, 1u);
  EXPECT_EQ(books().errors_by_reason.at("CONNECT_REFUSED"), 1u);
  EXPECT_EQ(books().dns_lookups_total, 1u);
}

TEST_F(HostPoolBooksTest, TheTimerFollowsTheNextDeadline) {
  EXPECT_EQ(timers_.current(), absl::InfiniteFuture()) << "nothing to wake for yet";
  Slot* a = Lease();
  Slot* b = Lease();
  const absl::Time start = clock_.Now();
  // A waiter: the timer is armed for its deadline.
  bool answered = false;
  pool_->Acquire(start + absl::Milliseconds(500),
                 [&](absl::StatusOr<fetchpool::Lease> lease) {
                   answered = true;
                   EXPECT_EQ(ReasonOf(lease.status()), "WAIT_TIMEOUT");
                 });
  EXPECT_EQ(timers_.current(), start + absl::Milliseconds(500));
  // It fires: the waiter times out and nothing is left to wake for.
  clock_.Advance(absl::Milliseconds(500));
  timers_.Fire();
  EXPECT_TRUE(answered);
  EXPECT_EQ(timers_.current(), absl::InfiniteFuture());
  // An idle connection: armed for its idle timeout.
  pool_->Release(a, ExchangeEnd::kComplete);
  EXPECT_EQ(timers_.current(), clock_.Now() + absl::Seconds(10));
  // A Keep-Alive hint lowers the idle timeout, and the timer with it.
  pool_->ApplyKeepAliveHint(absl::Seconds(5));
  EXPECT_EQ(timers_.current(), clock_.Now() + absl::Seconds(4));
  const size_t arms = timers_.armed.size();
  // A release that does not move the next deadline does not re-arm.
  clock_.Advance(absl::Milliseconds(1));
  pool_->Release(b, ExchangeEnd::kFailed);
  EXPECT_EQ(timers_.armed.size(), arms);
  clock_.Advance(absl::Seconds(4));
  timers_.Fire();
  EXPECT_EQ(pool_->idle_count(), 0u);
  EXPECT_EQ(books().closed_idle_timeout_total, 1u);
  EXPECT_EQ(timers_.current(), absl::InfiniteFuture());
  ExpectInvariants();
}

// A reused lease handed back unused (a fetch refused by its egress profile
// after the lease): back idle, the next waiter gets it, nothing counted.
TEST_F(HostPoolBooksTest, AnUnusedLeaseGoesBackWithoutCountingAnything) {
  Slot* a = Lease();
  pool_->MarkConnected(a);
  pool_->Release(a, ExchangeEnd::kComplete);
  const uint64_t uses = a->uses();
  const HostPoolStatsSnapshot before = books();
  Slot* again = Lease();
  ASSERT_EQ(again, a);
  pool_->ReturnUnused(again);
  ExpectInvariants();
  EXPECT_EQ(a->state(), Slot::State::kIdle);
  EXPECT_EQ(a->uses(), uses);
  EXPECT_EQ(books().reused_requests_total, before.reused_requests_total);
  EXPECT_EQ(books().connections_opened_total, before.connections_opened_total);
  EXPECT_EQ(books().connections_closed_total, before.connections_closed_total);
  EXPECT_EQ(pool_->idle_count(), 1u);
}

}  // namespace
}  // namespace fetchpool
