// HostPool::Reconfigure on a fake clock and transport: new limits for a
// pool in use. Nothing busy is killed and no queued waiter is failed for a
// lowered limit; the pool converges as connections are released; a raised
// cap serves the queue at once. The invariants are checked after every step
// and inside every lease callback.

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pool/host_pool.h"
#include "tests/pool/fake_clock.h"
#include "tests/pool/fake_transport.h"
#include "tests/pool/host_pool_fixture.h"
#include "tests/pool/pool_test_util.h"

namespace fetchpool {
namespace {

constexpr char kKey[] = "http://reload.test:80";

HostPoolConfig Caps(uint32_t max_connections, uint32_t max_waiters = 16) {
  HostPoolConfig c;
  c.max_connections = max_connections;
  c.max_waiters = max_waiters;
  c.wait_timeout = absl::Seconds(5);
  c.idle_timeout = absl::Seconds(30);
  return c;
}

class HostPoolReconfigureTest : public HostPoolFixture {
 protected:
  HostPoolReconfigureTest() : HostPoolFixture(kKey) {}

  // Unlike MakePool: no Validate() or invariant check at construction.
  void Make(const HostPoolConfig& config) {
    pool_ = std::make_unique<HostPool>(kKey, config, clock_, transport_);
    recorder_.set_pool(pool_.get());
  }
  // Unlike HostPoolFixture::TearDown: transport_.Misuse() is not checked.
  void TearDown() override {
    DestroyPool();
    EXPECT_EQ(recorder_.Problems(), "");
    EXPECT_EQ(transport_.open_now(), 0u);
  }
  void ExpectInvariants(const std::string& step) {
    const absl::Status s = pool_->CheckInvariants();
    EXPECT_TRUE(s.ok()) << "after " << step << ": " << s;
  }
  Outcome& Acquire(const std::string& name) {
    Outcome& o = recorder_.New(name);
    o.id = pool_->Acquire(clock_.Now() + absl::Seconds(5), recorder_.CallbackFor(o));
    ExpectInvariants("Acquire(" + name + ")");
    return o;
  }
  // A connected busy slot, leased at once.
  Slot* Busy(const std::string& name) {
    Outcome& o = Acquire(name);
    EXPECT_TRUE(o.leased()) << name << ": " << o.reason();
    if (!o.leased()) return nullptr;
    pool_->MarkConnected(o.slot());
    return o.slot();
  }
  void Release(Slot* slot, const std::string& step) {
    pool_->Release(slot, ExchangeEnd::kComplete);
    ExpectInvariants(step);
  }
  void Reconfigure(const HostPoolConfig& config, const std::string& step) {
    const absl::Status s = pool_->Reconfigure(config);
    EXPECT_TRUE(s.ok()) << step << ": " << s;
    ExpectInvariants(step);
  }
};

TEST_F(HostPoolReconfigureTest, ShrinkBelowBusyKillsNothingAndConvergesOnRelease) {
  Make(Caps(4));
  std::vector<Slot*> busy;
  for (int i = 0; i < 4; ++i) busy.push_back(Busy("b" + std::to_string(i)));
  Outcome& waiter = Acquire("waiter");
  ASSERT_FALSE(waiter.done());

  Reconfigure(Caps(2), "cap 4 -> 2 with 4 busy");
  EXPECT_EQ(pool_->busy_count(), 4u) << "no busy connection is killed";
  EXPECT_EQ(pool_->counters().connections_closed_total, 0u);
  EXPECT_FALSE(waiter.done()) << "a queued waiter is not failed for a lowered cap";
  EXPECT_EQ(pool_->Snapshot().max_connections, 2u) << "Stats shows the new cap at once";

  // Over the cap, a released connection closes: it is neither kept idle
  // nor handed to the waiter (that would keep the pool over the cap).
  Release(busy[0], "release 1 of 4 (cap 2)");
  EXPECT_EQ(pool_->SlotCount(), 3u);
  EXPECT_EQ(pool_->idle_count(), 0u);
  EXPECT_FALSE(waiter.done());
  Release(busy[1], "release 2 of 4 (cap 2)");
  EXPECT_EQ(pool_->SlotCount(), 2u);
  EXPECT_EQ(pool_->counters().closed_idle_overflow_total, 2u);
  EXPECT_FALSE(waiter.done());

  // At the cap again: a release hands the connection on, as always.
  Release(busy[2], "release 3 of 4 (cap 2)");
  ASSERT_TRUE(waiter.leased()) << waiter.reason();
  EXPECT_EQ(waiter.slot(), busy[2]);
  EXPECT_EQ(pool_->SlotCount(), 2u);
  Release(busy[3], "release 4 of 4");
  Release(waiter.slot(), "release the waiter's");
  EXPECT_EQ(pool_->idle_count(), 2u);
  EXPECT_EQ(pool_->counters().connections_closed_total, 2u);
}

TEST_F(HostPoolReconfigureTest, InvariantsCatchANewConnectionOpenedOverALoweredCap) {
  // The restated invariant is not vacuous: the slots held over the lowered
  // cap are a ceiling that comes down as they close.
  Make(Caps(3));
  Slot* a = Busy("a");
  Busy("b");
  Busy("c");
  Reconfigure(Caps(1), "cap 3 -> 1");
  Release(a, "release a");
  EXPECT_EQ(pool_->SlotCount(), 2u);
  // No Acquire may open a connection now (2 slots, cap 1).
  Outcome& late = Acquire("late");
  EXPECT_FALSE(late.done());
  EXPECT_EQ(pool_->SlotCount(), 2u);
  EXPECT_EQ(pool_->CheckInvariants(), absl::OkStatus());
}

TEST_F(HostPoolReconfigureTest, GrowServesQueuedWaitersAtOnceInFifoOrder) {
  Make(Caps(1));
  Busy("holder");
  Outcome& w1 = Acquire("w1");
  Outcome& w2 = Acquire("w2");
  Outcome& w3 = Acquire("w3");
  ASSERT_FALSE(w1.done() || w2.done() || w3.done());

  std::vector<std::string> order;
  for (Outcome* o : {&w1, &w2, &w3}) {
    o->then = [&order](Outcome& served) { order.push_back(served.name); };
  }
  Reconfigure(Caps(3), "cap 1 -> 3 with 3 waiters");
  EXPECT_TRUE(w1.leased() && w1.fresh());
  EXPECT_TRUE(w2.leased() && w2.fresh());
  EXPECT_FALSE(w3.done()) << "still over the new cap: 3 slots of 3";
  EXPECT_EQ(order, (std::vector<std::string>{"w1", "w2"}));
  EXPECT_EQ(pool_->SlotCount(), 3u);
  EXPECT_EQ(pool_->waiter_count(), 1u);
  w3.then = nullptr;  // answered at teardown, after `order` is gone
}

TEST_F(HostPoolReconfigureTest, LoweredMaxWaitersKeepsQueuedWaitersAndRefusesNewOnes) {
  Make(Caps(1, /*max_waiters=*/4));
  Slot* holder = Busy("holder");
  Outcome& w1 = Acquire("w1");
  Outcome& w2 = Acquire("w2");
  Outcome& w3 = Acquire("w3");
  Reconfigure(Caps(1, /*max_waiters=*/1), "max_waiters 4 -> 1 with 3 queued");
  EXPECT_EQ(pool_->waiter_count(), 3u) << "queued waiters stay";
  EXPECT_FALSE(w1.done() || w2.done() || w3.done());

  Outcome& refused = Acquire("refused");
  EXPECT_EQ(refused.reason(), "QUEUE_FULL");
  EXPECT_EQ(pool_->counters().queue_full_total, 1u);

  // As the queue drains below the new cap, it accepts again, up to it.
  Release(holder, "release to w1");
  ASSERT_TRUE(w1.leased());
  Release(w1.slot(), "release to w2");
  Release(w2.slot(), "release to w3");
  EXPECT_EQ(pool_->waiter_count(), 0u);
  Outcome& again = Acquire("again");
  EXPECT_FALSE(again.done()) << "one waiter fits the new cap";
  Outcome& over = Acquire("over");
  EXPECT_EQ(over.reason(), "QUEUE_FULL");
  Release(w3.slot(), "release to again");
  Release(again.slot(), "release again");
}

TEST_F(HostPoolReconfigureTest, IdleOverTheNewCapsIsClosedAtOnce) {
  Make(Caps(4));
  std::vector<Slot*> slots;
  for (int i = 0; i < 4; ++i) slots.push_back(Busy("s" + std::to_string(i)));
  // A closed slot is freed: its connection is known by id from here on.
  const auto coldest = FakeTransport::IdOf(*slots[0]);
  for (Slot* s : slots) Release(s, "release to idle");
  ASSERT_EQ(pool_->idle_count(), 4u);

  HostPoolConfig fewer_idle = Caps(4);
  fewer_idle.max_idle_connections = 3;
  Reconfigure(fewer_idle, "idle cap 4 -> 3");
  EXPECT_EQ(pool_->idle_count(), 3u);
  // The coldest (released first) went.
  EXPECT_TRUE(transport_.Info(coldest).closed);

  Reconfigure(Caps(2), "cap 4 -> 2, all idle");
  EXPECT_EQ(pool_->idle_count(), 2u);
  EXPECT_EQ(pool_->counters().closed_idle_overflow_total, 2u);
  EXPECT_EQ(pool_->Snapshot().max_idle_connections, 2u);
}

TEST_F(HostPoolReconfigureTest, ShrinkWithIdleAndBusyClosesIdleFirstAndNothingBusy) {
  Make(Caps(4));
  Slot* a = Busy("a");
  Slot* b = Busy("b");
  Busy("c");
  Busy("d");
  Release(a, "a idle");
  Release(b, "b idle");
  Reconfigure(Caps(1), "cap 4 -> 1 with 2 busy and 2 idle");
  EXPECT_EQ(pool_->idle_count(), 0u);
  EXPECT_EQ(pool_->busy_count(), 2u);
  EXPECT_EQ(pool_->counters().closed_idle_overflow_total, 2u);
}

TEST_F(HostPoolReconfigureTest, WaitTimeoutIsForNewWaitersAndIdleTimerIsRearmed) {
  Make(Caps(1));
  Slot* a = Busy("a");
  Release(a, "a idle");
  EXPECT_EQ(pool_->NextDeadline(), clock_.Now() + absl::Seconds(30));
  HostPoolConfig shorter = Caps(1);
  shorter.idle_timeout = absl::Seconds(2);
  shorter.wait_timeout = absl::Seconds(1);
  Reconfigure(shorter, "idle_timeout 30s -> 2s");
  EXPECT_EQ(pool_->config().wait_timeout, absl::Seconds(1));
  EXPECT_EQ(pool_->idle_timeout(), absl::Seconds(2));
  EXPECT_LE(pool_->NextDeadline(), clock_.Now() + absl::Seconds(2));
  clock_.Advance(absl::Seconds(3));
  pool_->OnTimer();
  ExpectInvariants("idle timer after the new timeout");
  EXPECT_EQ(pool_->idle_count(), 0u);
  EXPECT_EQ(pool_->counters().closed_idle_timeout_total, 1u);
}

TEST_F(HostPoolReconfigureTest, KeepAliveHintSurvivesAReconfigure) {
  Make(Caps(1));
  pool_->ApplyKeepAliveHint(absl::Seconds(5));  // learned: 4s
  ASSERT_EQ(pool_->idle_timeout(), absl::Seconds(4));
  Reconfigure(Caps(1), "same idle_timeout (30s)");
  EXPECT_EQ(pool_->idle_timeout(), absl::Seconds(4));
}

TEST_F(HostPoolReconfigureTest, AnInvalidConfigChangesNothing) {
  Make(Caps(2));
  HostPoolConfig bad = Caps(0);
  const absl::Status s = pool_->Reconfigure(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool_->config().max_connections, 2u);
}

}  // namespace
}  // namespace fetchpool
