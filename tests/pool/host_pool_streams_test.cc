// HostPool with multiplexed (HTTP/2) slots, on a fake clock and transport:
// one connection carrying many streams, waiting for a connection being
// established (PIPEWAIT), HTTP/1.1 found on a host that may multiplex,
// GOAWAY and broken connections with streams running, and the stream cap
// (the randomised schedule is host_pool_streams_stress_test.cc). Every step
// is followed by CheckInvariants(); every lease callback must run exactly
// once.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/reason.h"
#include "pool/host_pool.h"
#include "tests/pool/fake_clock.h"
#include "tests/pool/fake_transport.h"
#include "tests/pool/host_pool_fixture.h"
#include "tests/pool/pool_test_util.h"

namespace fetchpool {
namespace {

constexpr char kKey[] = "https://h2:443";

// A host that may speak HTTP/2: 64 connections, 100 streams each.
HostPoolConfig H2Config() {
  HostPoolConfig c;
  c.max_connections = 64;
  c.max_waiters = 4096;
  c.max_streams_per_connection = 100;
  c.may_multiplex = true;
  c.idle_timeout = absl::Seconds(30);
  c.wait_timeout = absl::Seconds(5);
  return c;
}

class HostPoolStreamsTest : public HostPoolFixture {
 protected:
  HostPoolStreamsTest() : HostPoolFixture(kKey) {}

  void SetUp() override { MakePool(H2Config()); }

  Outcome& Acquire(const std::string& name, absl::Duration timeout = absl::Seconds(5),
                   bool replay = false) {
    HostPool::AcquireOptions options;
    options.replay = replay;
    return AcquireWith(name, Now() + timeout, options);
  }
  // `n` acquires named prefix0..; returns them in order.
  std::vector<Outcome*> AcquireMany(const std::string& prefix, int n) {
    std::vector<Outcome*> out;
    for (int i = 0; i < n; ++i) out.push_back(&Acquire(absl::StrCat(prefix, i)));
    return out;
  }
  void Connect(Slot* s, uint32_t streams) { STEP(pool_->MarkConnected(s, streams)); }
  static int CountLeasedOn(const std::vector<Outcome*>& os, const Slot* slot) {
    int n = 0;
    for (const Outcome* o : os) n += o->leased() && o->slot() == slot;
    return n;
  }
  // Releases every leased outcome's stream, in order.
  void ReleaseAll(const std::vector<Outcome*>& os, ExchangeEnd end = ExchangeEnd::kComplete) {
    for (Outcome* o : os) {
      if (o->leased()) Release(o->slot(), end);
    }
  }
};

// ---------------------------------------------------------------------------
// Multiplexing

TEST_F(HostPoolStreamsTest, SixtyFourFetchesShareOneConnection) {
  std::vector<Outcome*> os = AcquireMany("f", 64);
  ASSERT_TRUE(os[0]->leased());
  EXPECT_TRUE(os[0]->fresh());
  EXPECT_FALSE(os[0]->result->shared);
  for (int i = 1; i < 64; ++i) EXPECT_FALSE(os[i]->done()) << i << " waits for the connection";
  EXPECT_EQ(transport_.opened(), 1u) << "PIPEWAIT: no second connection while the first connects";
  EXPECT_EQ(pool().waiter_count(), 63u);
  EXPECT_EQ(Snap().max_streams_per_connection, 0u) << "not known yet";

  Slot* s = os[0]->slot();
  Connect(s, 100);
  for (int i = 1; i < 64; ++i) {
    ASSERT_TRUE(os[i]->leased()) << i << ": " << os[i]->reason();
    EXPECT_EQ(os[i]->slot(), s);
    EXPECT_FALSE(os[i]->fresh());
    EXPECT_TRUE(os[i]->result->shared);
  }
  EXPECT_EQ(transport_.opened(), 1u);
  EXPECT_EQ(s->streams_in_use(), 64u);
  EXPECT_EQ(s->max_streams(), 100u);
  EXPECT_EQ(s->state(), Slot::State::kPartial);
  EXPECT_EQ(pool().learned_streams_per_connection(), 100u);
  HostPoolStatsSnapshot snap = Snap();
  EXPECT_EQ(snap.streams_in_use, 64u);
  EXPECT_EQ(snap.busy_connections, 1u);
  EXPECT_EQ(snap.idle_connections, 0u);
  EXPECT_EQ(snap.wait_queue_length, 0u);
  EXPECT_EQ(snap.max_streams_per_connection, 100u);

  ReleaseAll(os);
  EXPECT_EQ(s->state(), Slot::State::kIdle);
  EXPECT_EQ(s->streams_in_use(), 0u);
  snap = Snap();
  EXPECT_EQ(snap.streams_in_use, 0u);
  EXPECT_EQ(snap.busy_connections, 0u);
  EXPECT_EQ(snap.idle_connections, 1u);
  EXPECT_EQ(snap.reused_requests_total, 63u);
  EXPECT_EQ(snap.requests_total, 64u);
  EXPECT_EQ(snap.connections_opened_total, 1u);
}

TEST_F(HostPoolStreamsTest, AStreamLimitOfTenSpreadsOverSevenConnections) {
  std::vector<Outcome*> os = AcquireMany("f", 64);
  Connect(os[0]->slot(), 10);
  EXPECT_EQ(pool().learned_streams_per_connection(), 10u);
  EXPECT_EQ(CountLeasedOn(os, os[0]->slot()), 10);
  // The 54 others: new connections, each expected to carry 10.
  EXPECT_EQ(transport_.opened(), 7u);
  EXPECT_EQ(pool().connecting_count(), 6u);
  std::vector<Slot*> connecting;
  for (Outcome* o : os) {
    if (o->leased() && o->fresh() && o->slot() != os[0]->slot()) connecting.push_back(o->slot());
  }
  ASSERT_EQ(connecting.size(), 6u);
  for (Slot* s : connecting) Connect(s, 10);
  for (Outcome* o : os) EXPECT_TRUE(o->leased()) << o->name << ": " << o->reason();
  EXPECT_EQ(transport_.opened(), 7u);
  EXPECT_EQ(pool().streams_in_use(), 64u);
  for (Slot* s : connecting) EXPECT_LE(s->streams_in_use(), 10u);
  EXPECT_EQ(CountLeasedOn(os, connecting.back()), 4);
  EXPECT_EQ(pool().partial_count(), 1u);
  // A 65th fetch takes the last connection's free stream.
  Outcome& more = Acquire("more");
  ASSERT_TRUE(more.leased());
  EXPECT_EQ(more.slot(), connecting.back());
  EXPECT_TRUE(more.result->shared);
  ReleaseAll(os);
  Release(more.slot(), ExchangeEnd::kComplete);
  EXPECT_EQ(pool().idle_count(), 7u);
}

TEST_F(HostPoolStreamsTest, TheStreamCapBoundsWhatTheOriginAllows) {
  HostPoolConfig c = H2Config();
  c.max_streams_per_connection = 4;
  MakePool(c);
  std::vector<Outcome*> os = AcquireMany("f", 6);
  EXPECT_EQ(transport_.opened(), 2u) << "one connection expected to carry 4 streams";
  // The fifth caller is one too many for the first connection: the oldest
  // waiter (FIFO) gets the second connection, the fifth waits.
  Slot* s2 = os[1]->slot();
  ASSERT_NE(s2, nullptr);
  EXPECT_TRUE(os[1]->fresh());
  Slot* s = os[0]->slot();
  Connect(s, 1000);
  EXPECT_EQ(s->max_streams(), 4u);
  EXPECT_EQ(pool().learned_streams_per_connection(), 1000u);
  EXPECT_EQ(CountLeasedOn(os, s), 4);
  EXPECT_EQ(os[4]->slot(), s);
  EXPECT_EQ(s->state(), Slot::State::kBusy) << "full";
  EXPECT_FALSE(os[5]->done()) << "waits for the second connection";
  Connect(s2, 1000);
  EXPECT_EQ(os[5]->slot(), s2);
  ReleaseAll(os);
}

TEST_F(HostPoolStreamsTest, AHostThatTurnsOutHttp11GivesQueuedWaitersNewConnections) {
  HostPoolConfig c = H2Config();
  c.max_connections = 3;
  MakePool(c);
  std::vector<Outcome*> os = AcquireMany("f", 5);
  EXPECT_EQ(transport_.opened(), 1u);
  EXPECT_EQ(pool().waiter_count(), 4u);
  Connect(os[0]->slot(), 1);
  EXPECT_EQ(pool().learned_streams_per_connection(), 1u);
  EXPECT_EQ(os[0]->slot()->max_streams(), 1u);
  EXPECT_EQ(os[0]->slot()->state(), Slot::State::kBusy);
  // Two new connections, FIFO; the last two wait for a free connection.
  EXPECT_TRUE(os[1]->leased() && os[1]->fresh());
  EXPECT_TRUE(os[2]->leased() && os[2]->fresh());
  EXPECT_FALSE(os[3]->done());
  EXPECT_FALSE(os[4]->done());
  EXPECT_EQ(transport_.opened(), 3u);
  Connect(os[1]->slot(), 1);
  Release(os[0]->slot(), ExchangeEnd::kComplete);
  ASSERT_TRUE(os[3]->leased());
  EXPECT_EQ(os[3]->slot(), os[0]->slot());
  EXPECT_FALSE(os[3]->result->shared);
  EXPECT_EQ(Snap().max_streams_per_connection, 1u);
  Release(os[1]->slot(), ExchangeEnd::kComplete);
  EXPECT_EQ(os[4]->slot(), os[1]->slot());
  for (int i : {2, 3, 4}) Release(os[i]->slot(), ExchangeEnd::kComplete);
  EXPECT_EQ(pool().idle_count(), 3u);
}

TEST_F(HostPoolStreamsTest, AHostLearnedAsHttp11NeverWaitsOnAConnectingSlot) {
  Outcome& a = Acquire("a");
  Connect(a.slot(), 1);
  Outcome& b = Acquire("b");
  Outcome& c = Acquire("c");
  ASSERT_TRUE(b.leased() && c.leased()) << "connections, not waits, while b connects";
  EXPECT_TRUE(b.fresh());
  EXPECT_TRUE(c.fresh());
  EXPECT_EQ(transport_.opened(), 3u);
  EXPECT_EQ(pool().connecting_count(), 2u);
  for (Outcome* o : {&a, &b, &c}) Release(o->slot(), ExchangeEnd::kComplete);
}

TEST_F(HostPoolStreamsTest, AHostThatMayNotMultiplexNeverWaitsOnAConnectingSlot) {
  HostPoolConfig c = H2Config();
  c.may_multiplex = false;
  MakePool(c);
  std::vector<Outcome*> os = AcquireMany("f", 3);
  for (Outcome* o : os) EXPECT_TRUE(o->leased() && o->fresh());
  EXPECT_EQ(transport_.opened(), 3u);
  ReleaseAll(os, ExchangeEnd::kFailed);
}

TEST_F(HostPoolStreamsTest, TheFullestConnectionWithRoomTakesTheNextStream) {
  std::vector<Outcome*> first = AcquireMany("a", 3);
  Connect(first[0]->slot(), 4);
  Slot* a = first[0]->slot();
  Outcome& b0 = Acquire("b0", absl::Seconds(5), /*replay=*/true);  // its own connection
  ASSERT_TRUE(b0.leased() && b0.fresh());
  Slot* b = b0.slot();
  Connect(b, 4);
  EXPECT_EQ(pool().partial_count(), 2u);
  // a carries 3 of 4, b 1 of 4: the next stream goes to a.
  Outcome& n1 = Acquire("n1");
  EXPECT_EQ(n1.slot(), a);
  EXPECT_EQ(a->state(), Slot::State::kBusy);
  Outcome& n2 = Acquire("n2");
  EXPECT_EQ(n2.slot(), b);
  ReleaseAll(first);
  Release(a, ExchangeEnd::kComplete);
  EXPECT_EQ(a->state(), Slot::State::kIdle);
  Outcome& n3 = Acquire("n3");
  EXPECT_EQ(n3.slot(), b) << "a free stream on an open connection before an idle one";
  for (Outcome* o : {&b0, &n2, &n3}) Release(o->slot(), ExchangeEnd::kComplete);
}

TEST_F(HostPoolStreamsTest, AnIdleMultiplexedConnectionIsReusedAndSharedAfter) {
  Outcome& a = Acquire("a");
  Slot* s = a.slot();
  Connect(s, 100);
  Release(s, ExchangeEnd::kComplete);
  ASSERT_EQ(s->state(), Slot::State::kIdle);
  Outcome& b = Acquire("b");
  ASSERT_EQ(b.slot(), s);
  EXPECT_FALSE(b.fresh());
  EXPECT_FALSE(b.result->shared) << "nobody else on it";
  EXPECT_EQ(s->state(), Slot::State::kPartial);
  Outcome& c = Acquire("c");
  EXPECT_EQ(c.slot(), s);
  EXPECT_TRUE(c.result->shared);
  Release(s, ExchangeEnd::kComplete);
  Release(s, ExchangeEnd::kComplete);
  EXPECT_EQ(pool().counters().reused_requests_total, 2u);
}

// ---------------------------------------------------------------------------
// GOAWAY and broken connections

TEST_F(HostPoolStreamsTest, GoAwayTakesNoNewStreamAndClosesWithTheLastOne) {
  std::vector<Outcome*> os = AcquireMany("f", 3);
  Slot* s = os[0]->slot();
  Connect(s, 100);
  ASSERT_EQ(s->streams_in_use(), 3u);
  STEP(pool().MarkGoingAway(s));
  EXPECT_TRUE(s->going_away());
  EXPECT_EQ(s->state(), Slot::State::kBusy);
  const uint64_t conn = FakeTransport::IdOf(*s);

  Outcome& n = Acquire("n");
  ASSERT_TRUE(n.leased());
  EXPECT_NE(n.slot(), s);
  EXPECT_TRUE(n.fresh());
  EXPECT_EQ(transport_.opened(), 2u);

  Release(s, ExchangeEnd::kComplete);
  Release(s, ExchangeEnd::kComplete);
  EXPECT_FALSE(transport_.Status(conn).closed) << "a stream still runs on it";
  Release(s, ExchangeEnd::kComplete);
  EXPECT_TRUE(transport_.Status(conn).closed);
  HostPoolStatsSnapshot snap = Snap();
  EXPECT_EQ(snap.closed_upstream_total, 1u);
  EXPECT_EQ(snap.connections_closed_total, 1u);
  EXPECT_EQ(snap.connections_opened_total, 2u);
  EXPECT_EQ(snap.reused_requests_total, 2u);
  EXPECT_EQ(snap.streams_in_use, 1u);
  Release(n.slot(), ExchangeEnd::kComplete);
}

TEST_F(HostPoolStreamsTest, GoAwayOnAnIdleConnectionClosesItAtOnce) {
  Outcome& a = Acquire("a");
  Slot* s = a.slot();
  Connect(s, 100);
  Release(s, ExchangeEnd::kComplete);
  const uint64_t conn = FakeTransport::IdOf(*s);
  STEP(pool().MarkGoingAway(s));
  EXPECT_TRUE(transport_.Status(conn).closed);
  EXPECT_EQ(pool().SlotCount(), 0u);
  EXPECT_EQ(pool().counters().closed_upstream_total, 1u);
}

TEST_F(HostPoolStreamsTest, GoAwayWhileConnectingSendsItsWaitersToNewConnections) {
  HostPoolConfig c = H2Config();
  c.max_connections = 2;
  MakePool(c);
  std::vector<Outcome*> os = AcquireMany("f", 3);
  EXPECT_EQ(transport_.opened(), 1u);
  STEP(pool().MarkGoingAway(os[0]->slot()));
  // The second connection is expected to carry both waiters.
  EXPECT_EQ(transport_.opened(), 2u);
  ASSERT_TRUE(os[1]->leased() && os[1]->fresh());
  EXPECT_FALSE(os[2]->done());
  Connect(os[0]->slot(), 100);
  EXPECT_FALSE(os[2]->done()) << "not on a connection that is going away";
  Connect(os[1]->slot(), 100);
  EXPECT_EQ(os[2]->slot(), os[1]->slot());
  ReleaseAll(os);
  EXPECT_EQ(pool().SlotCount(), 1u);
}

TEST_F(HostPoolStreamsTest, CompleteClosedOnAMultiplexedSlotIsAGoAway) {
  std::vector<Outcome*> os = AcquireMany("f", 2);
  Slot* s = os[0]->slot();
  Connect(s, 100);
  Release(s, ExchangeEnd::kCompleteClosed);
  EXPECT_TRUE(s->going_away());
  EXPECT_EQ(pool().SlotCount(), 1u);
  Release(s, ExchangeEnd::kComplete);
  EXPECT_EQ(pool().SlotCount(), 0u);
  EXPECT_EQ(pool().counters().closed_upstream_total, 1u);
}

TEST_F(HostPoolStreamsTest, AFailedStreamBreaksTheConnectionWhichClosesWhenEmpty) {
  std::vector<Outcome*> os = AcquireMany("f", 3);
  Slot* s = os[0]->slot();
  Connect(s, 100);
  const uint64_t conn = FakeTransport::IdOf(*s);
  Release(s, ExchangeEnd::kFailed);
  EXPECT_TRUE(s->going_away());
  EXPECT_EQ(s->state(), Slot::State::kBusy);
  Outcome& n = Acquire("n");
  ASSERT_TRUE(n.leased());
  EXPECT_NE(n.slot(), s) << "no new stream on a broken connection";
  Release(s, ExchangeEnd::kFailed);
  EXPECT_FALSE(transport_.Status(conn).closed);
  Release(s, ExchangeEnd::kComplete);
  EXPECT_TRUE(transport_.Status(conn).closed);
  HostPoolStatsSnapshot snap = Snap();
  EXPECT_EQ(snap.closed_error_total, 1u) << "one connection, counted once";
  EXPECT_EQ(snap.connections_closed_total, 1u);
  EXPECT_EQ(snap.closed_upstream_total, 0u);
  Release(n.slot(), ExchangeEnd::kComplete);
}

TEST_F(HostPoolStreamsTest, AFailureAfterGoAwayClosesAsAnError) {
  std::vector<Outcome*> os = AcquireMany("f", 2);
  Slot* s = os[0]->slot();
  Connect(s, 100);
  STEP(pool().MarkGoingAway(s));
  Release(s, ExchangeEnd::kStale);
  Release(s, ExchangeEnd::kComplete);
  HostPoolStatsSnapshot snap = Snap();
  EXPECT_EQ(snap.connections_closed_total, 1u);
  EXPECT_EQ(snap.stale_caught_total, 1u);
  EXPECT_EQ(snap.closed_upstream_total, 1u) << "kStale counts as an upstream close, once";
}

TEST_F(HostPoolStreamsTest, AnAbortedStreamLeavesTheMultiplexedConnectionOpen) {
  std::vector<Outcome*> os = AcquireMany("f", 2);
  Slot* s = os[0]->slot();
  Connect(s, 100);
  Release(s, ExchangeEnd::kAborted);
  EXPECT_FALSE(s->going_away());
  EXPECT_EQ(s->state(), Slot::State::kPartial);
  EXPECT_EQ(s->streams_in_use(), 1u);
  Outcome& n = Acquire("n");
  EXPECT_EQ(n.slot(), s);
  Release(s, ExchangeEnd::kAborted);
  Release(s, ExchangeEnd::kComplete);
  EXPECT_EQ(s->state(), Slot::State::kIdle);
  HostPoolStatsSnapshot snap = Snap();
  EXPECT_EQ(snap.closed_aborted_total, 0u);
  EXPECT_EQ(snap.connections_closed_total, 0u);
  EXPECT_EQ(snap.reused_requests_total, 1u) << "aborted streams are not reuses";
}

TEST_F(HostPoolStreamsTest, AnAbortedExchangeStillClosesAnHttp11Connection) {
  Outcome& a = Acquire("a");
  Connect(a.slot(), 1);
  Release(a.slot(), ExchangeEnd::kAborted);
  EXPECT_EQ(pool().SlotCount(), 0u);
  EXPECT_EQ(pool().counters().closed_aborted_total, 1u);
}

TEST_F(HostPoolStreamsTest, APastLifetimeConnectionTakesNoNewStream) {
  HostPoolConfig c = H2Config();
  c.max_connection_lifetime = absl::Seconds(10);
  MakePool(c);
  std::vector<Outcome*> os = AcquireMany("f", 2);
  Slot* s = os[0]->slot();
  Connect(s, 100);
  Advance(absl::Seconds(11));
  Outcome& n = Acquire("n");
  EXPECT_NE(n.slot(), s);
  EXPECT_TRUE(s->going_away());
  ReleaseAll(os);
  EXPECT_EQ(pool().counters().closed_max_lifetime_total, 1u);
  Release(n.slot(), ExchangeEnd::kComplete);
}

// ---------------------------------------------------------------------------
// Idle timeout, stale check, waiting

TEST_F(HostPoolStreamsTest, TheIdleTimeoutAppliesOnlyToAConnectionWithoutStreams) {
  std::vector<Outcome*> os = AcquireMany("f", 2);
  Slot* s = os[0]->slot();
  Connect(s, 100);
  Release(s, ExchangeEnd::kComplete);
  Advance(absl::Seconds(60));
  STEP(pool().OnTimer());
  EXPECT_EQ(pool().SlotCount(), 1u) << "a stream still runs on it";
  Release(s, ExchangeEnd::kComplete);
  EXPECT_EQ(s->state(), Slot::State::kIdle);
  EXPECT_EQ(pool().NextDeadline(), Now() + absl::Seconds(30));
  Advance(absl::Seconds(31));
  STEP(pool().OnTimer());
  EXPECT_EQ(pool().SlotCount(), 0u);
  EXPECT_EQ(pool().counters().closed_idle_timeout_total, 1u);
}

TEST_F(HostPoolStreamsTest, AnIdleMultiplexedConnectionIsCheckedBeforeReuse) {
  Outcome& a = Acquire("a");
  Slot* s = a.slot();
  Connect(s, 100);
  Release(s, ExchangeEnd::kComplete);
  const uint64_t conn = FakeTransport::IdOf(*s);
  transport_.MarkDead(*s);
  Outcome& b = Acquire("b");
  ASSERT_TRUE(b.leased());
  EXPECT_TRUE(b.fresh());
  EXPECT_TRUE(transport_.Status(conn).closed);
  EXPECT_EQ(pool().counters().stale_caught_total, 1u);
  Release(b.slot(), ExchangeEnd::kComplete);
}

TEST_F(HostPoolStreamsTest, WaitTimeoutCancelAndQueueFullWithStreams) {
  HostPoolConfig c = H2Config();
  c.max_connections = 1;
  c.max_waiters = 2;
  c.max_streams_per_connection = 2;
  MakePool(c);
  Outcome& a = Acquire("a");
  Outcome& b = Acquire("b", absl::Seconds(1));  // waits for a's connection
  EXPECT_FALSE(b.done());
  Advance(absl::Seconds(2));
  STEP(pool().OnTimer());
  EXPECT_EQ(b.reason(), "WAIT_TIMEOUT");
  Connect(a.slot(), 2);
  EXPECT_EQ(a.slot()->state(), Slot::State::kPartial) << "nobody left to hand the stream to";
  Outcome& d = Acquire("d");
  ASSERT_TRUE(d.leased());
  EXPECT_TRUE(d.result->shared);
  Outcome& e = Acquire("e");
  Outcome& f = Acquire("f");
  Outcome& g = Acquire("g");
  EXPECT_FALSE(e.done());
  EXPECT_FALSE(f.done());
  EXPECT_EQ(g.reason(), "QUEUE_FULL");
  EXPECT_TRUE(pool().Cancel(e.id));
  EXPECT_INVARIANTS(pool(), "Cancel(e)");
  EXPECT_EQ(e.reason(), "CANCELLED");
  Release(a.slot(), ExchangeEnd::kComplete);
  ASSERT_TRUE(f.leased());
  EXPECT_EQ(f.slot(), a.slot());
  EXPECT_TRUE(f.result->shared);
  HostPoolStatsSnapshot snap = Snap();
  EXPECT_EQ(snap.wait_timeouts_total, 1u);
  EXPECT_EQ(snap.cancelled_waiters_total, 1u);
  EXPECT_EQ(snap.queue_full_total, 1u);
  Release(a.slot(), ExchangeEnd::kComplete);
  Release(a.slot(), ExchangeEnd::kComplete);
}

TEST_F(HostPoolStreamsTest, NoWaitingForAConnectingSlotWhenTheQueueIsOff) {
  HostPoolConfig c = H2Config();
  c.max_waiters = 0;
  MakePool(c);
  std::vector<Outcome*> os = AcquireMany("f", 2);
  EXPECT_TRUE(os[1]->leased() && os[1]->fresh());
  ReleaseAll(os, ExchangeEnd::kFailed);
}

TEST_F(HostPoolStreamsTest, AFailedConnectGivesItsWaitersANewConnection) {
  std::vector<Outcome*> os = AcquireMany("f", 3);
  Release(os[0]->slot(), ExchangeEnd::kFailed);
  ASSERT_TRUE(os[1]->leased() && os[1]->fresh());
  EXPECT_FALSE(os[2]->done()) << "waits for the new connection";
  Connect(os[1]->slot(), 100);
  EXPECT_EQ(os[2]->slot(), os[1]->slot());
  Release(os[1]->slot(), ExchangeEnd::kComplete);
  Release(os[1]->slot(), ExchangeEnd::kComplete);
}

// ---------------------------------------------------------------------------
// Reconfigure

TEST_F(HostPoolStreamsTest, ALoweredStreamCapLeasesNothingOverItAndCutsNothing) {
  std::vector<Outcome*> os = AcquireMany("f", 5);
  Slot* s = os[0]->slot();
  Connect(s, 100);
  HostPoolConfig c = H2Config();
  c.max_streams_per_connection = 3;
  c.max_connections = 1;
  STEP(ASSERT_TRUE(pool().Reconfigure(c).ok()));
  EXPECT_EQ(s->streams_in_use(), 5u) << "running streams are not cut";
  EXPECT_EQ(s->state(), Slot::State::kBusy);
  Outcome& n = Acquire("n");
  EXPECT_FALSE(n.done()) << "no stream over the new cap";
  Release(s, ExchangeEnd::kComplete);
  Release(s, ExchangeEnd::kComplete);
  EXPECT_FALSE(n.done()) << "3 of 3 in use";
  Release(s, ExchangeEnd::kComplete);
  ASSERT_TRUE(n.leased());
  EXPECT_EQ(n.slot(), s);
  EXPECT_EQ(s->streams_in_use(), 3u);
  // Raised again: the room goes to waiters at once.
  Outcome& m = Acquire("m");
  EXPECT_FALSE(m.done());
  c.max_streams_per_connection = 10;
  STEP(ASSERT_TRUE(pool().Reconfigure(c).ok()));
  ASSERT_TRUE(m.leased());
  EXPECT_EQ(m.slot(), s);
  EXPECT_EQ(s->state(), Slot::State::kPartial);
  for (int i = 0; i < 4; ++i) Release(s, ExchangeEnd::kComplete);
  // Connections made after the change take the new cap.
  MakePool(c);
  Outcome& x = Acquire("x");
  Connect(x.slot(), 100);
  EXPECT_EQ(x.slot()->max_streams(), 10u);
  Release(x.slot(), ExchangeEnd::kComplete);
}

TEST_F(HostPoolStreamsTest, ALoweredConnectionCapShedsOneMultiplexedConnectionNotAll) {
  HostPoolConfig c = H2Config();
  c.max_connections = 2;
  c.max_streams_per_connection = 2;
  MakePool(c);
  std::vector<Outcome*> os = AcquireMany("f", 4);
  ASSERT_EQ(transport_.opened(), 2u);
  Slot* a = os[0]->slot();
  Slot* b = os[1]->slot();
  Connect(a, 2);
  Connect(b, 2);
  ASSERT_EQ(a->streams_in_use(), 2u);
  ASSERT_EQ(b->streams_in_use(), 2u);
  c.max_connections = 1;
  STEP(ASSERT_TRUE(pool().Reconfigure(c).ok()));
  Release(a, ExchangeEnd::kComplete);
  EXPECT_TRUE(a->going_away()) << "2 slots over a cap of 1: a goes";
  Release(b, ExchangeEnd::kComplete);
  EXPECT_FALSE(b->going_away()) << "a is already going: b stays";
  EXPECT_EQ(b->state(), Slot::State::kPartial);
  Release(a, ExchangeEnd::kComplete);
  EXPECT_EQ(pool().SlotCount(), 1u);
  EXPECT_EQ(pool().counters().closed_idle_overflow_total, 1u);
  Release(b, ExchangeEnd::kComplete);
  EXPECT_EQ(b->state(), Slot::State::kIdle);
}

TEST_F(HostPoolStreamsTest, AStreamCapOfZeroIsRefused) {
  HostPoolConfig c = H2Config();
  c.max_streams_per_connection = 0;
  EXPECT_FALSE(c.Validate().ok());
  EXPECT_FALSE(pool().Reconfigure(c).ok());
}

}  // namespace
}  // namespace fetchpool
