// Issue 3 #3 and #4, fasthttp 1.30 -> 1.59 and Go's undrained bodies: what
// happens to a connection whose caller stopped waiting. `abort` closes it
// (we close first: TIME_WAIT here, a new connection next time); `drain`
// answers the caller at once, lets the response finish within a byte and time
// budget and keeps the connection. Beyond the budget the connection is
// closed and counted as aborted, never returned half-read.
#include <iostream>

#include "tests/integration/fault_test_util.h"

namespace fetchpool::testing {
namespace {

constexpr int kSlowCalls = 20;

class DeadlinePolicyTest : public FaultServiceTest {
 protected:
  // Sequential calls whose deadline (150 ms) passes while the origin sleeps
  // (300 ms); every one must end DEADLINE_EXCEEDED.
  void RunSlowCalls(const std::string& base_url, v1::DeadlinePolicy policy) {
    for (int i = 0; i < kSlowCalls; ++i) {
      v1::FetchRequest request;
      request.set_url(base_url + "/sleep?ms=300");
      request.set_deadline_policy(policy);
      CallResult r = Fetch(request, absl::Milliseconds(150));
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
          << i << ": " << r.status.error_message();
    }
  }

  // Sequential calls whose body (5000 bytes) is over the caller's limit.
  void RunOversizedCalls(const std::string& base_url, v1::DeadlinePolicy policy, int calls) {
    for (int i = 0; i < calls; ++i) {
      v1::FetchRequest request;
      request.set_url(base_url + "/bytes?n=5000");
      request.set_max_response_bytes(1000);
      request.set_deadline_policy(policy);
      CallResult r = Fetch(request);
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << i << ": " << r.status.error_message();
      EXPECT_EQ(r.reason, "RESPONSE_TOO_LARGE");
    }
  }
};

TEST_F(DeadlinePolicyTest, DrainKeepsConnectionsFlatWhereAbortOpensOnePerCall) {
  StartServer(Config());
  TestOrigin drain_origin;
  ASSERT_TRUE(drain_origin.Start().ok());
  const std::string abort_key = PoolKey();
  const std::string drain_key = LoopbackPoolKey(drain_origin.port());

  RunSlowCalls(origin_->base_url(), v1::DEADLINE_POLICY_ABORT);
  RunSlowCalls(drain_origin.base_url(), v1::DEADLINE_POLICY_DRAIN);
  ASSERT_TRUE(WaitForQuietPoolFor(abort_key));
  ASSERT_TRUE(WaitForQuietPoolFor(drain_key));
  v1::HostPoolStats a = StatsFor(abort_key);
  v1::HostPoolStats d = StatsFor(drain_key);
  Print("deadline policy abort, 20 x /sleep?ms=300 with a 150ms deadline", a);
  Print("deadline policy drain, 20 x /sleep?ms=300 with a 150ms deadline", d);

  // abort: a new connection for every call, each closed by us mid-transfer.
  EXPECT_GE(a.connections_opened_total(), static_cast<uint64_t>(kSlowCalls) - 1);
  EXPECT_GE(a.closed_aborted_total(), static_cast<uint64_t>(kSlowCalls) - 1);
  EXPECT_GE(a.time_wait_estimate(), static_cast<uint32_t>(kSlowCalls) - 2);
  EXPECT_EQ(origin_->connections_accepted(), static_cast<int64_t>(a.connections_opened_total()));
  // drain: the responses finish in the background and the connections are
  // reused; at most a few overlap (a call arrives while the previous one
  // still drains).
  EXPECT_LE(d.connections_opened_total(), 4u);
  EXPECT_EQ(d.closed_aborted_total(), 0u);
  EXPECT_EQ(d.time_wait_estimate(), 0u);
  EXPECT_LE(d.time_wait_kernel(), 1u);
  EXPECT_GE(d.reused_requests_total(), static_cast<uint64_t>(kSlowCalls) - 4);
  EXPECT_EQ(drain_origin.requests_served(), kSlowCalls);
  ExpectQuietAndSound(abort_key);
  ExpectQuietAndSound(drain_key);
  // For the record: an abort while the origin is still working is an active
  // close, but when the origin then writes its response into our closed
  // socket the kernel answers RST and no TIME_WAIT remains on either side.
  absl::SleepFor(absl::Milliseconds(400));
  std::cout << "[figures] abort: time_wait_estimate=" << StatsFor(abort_key).time_wait_estimate()
            << " kernel TIME_WAIT toward the origin once its sleeps ended="
            << KernelTimeWaitTo(origin_->port()) << std::endl;
  drain_origin.Stop();
}

TEST_F(DeadlinePolicyTest, PoolDefaultPolicyAppliesWhenTheCallerLeavesItUnset) {
  ServerConfig config = Config();
  config.engine.defaults.fetch.on_deadline = OnDeadline::kAbort;
  StartServer(config);
  for (int i = 0; i < 3; ++i) {
    CallResult r = Get("/sleep?ms=300", absl::Milliseconds(150));
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  ASSERT_TRUE(WaitForQuietPool());
  v1::HostPoolStats s = PoolStats();
  EXPECT_EQ(s.connections_opened_total(), 3u);
  EXPECT_EQ(s.closed_aborted_total(), 3u);
  ExpectQuietAndSound(PoolKey());
}

TEST_F(DeadlinePolicyTest, OversizedBodyDrainKeepsTheConnectionAbortClosesIt) {
  StartServer(Config());
  TestOrigin drain_origin;
  ASSERT_TRUE(drain_origin.Start().ok());
  const std::string abort_key = PoolKey();
  const std::string drain_key = LoopbackPoolKey(drain_origin.port());
  constexpr int kCalls = 10;
  RunOversizedCalls(origin_->base_url(), v1::DEADLINE_POLICY_ABORT, kCalls);
  RunOversizedCalls(drain_origin.base_url(), v1::DEADLINE_POLICY_DRAIN, kCalls);
  ASSERT_TRUE(WaitForQuietPoolFor(abort_key));
  ASSERT_TRUE(WaitForQuietPoolFor(drain_key));
  v1::HostPoolStats a = StatsFor(abort_key);
  v1::HostPoolStats d = StatsFor(drain_key);
  Print("oversized body abort, 10 x 5000 bytes over a 1000-byte limit", a);
  Print("oversized body drain, 10 x 5000 bytes over a 1000-byte limit", d);
  EXPECT_EQ(a.connections_opened_total(), static_cast<uint64_t>(kCalls));
  EXPECT_EQ(a.closed_aborted_total(), static_cast<uint64_t>(kCalls));
  // Drain answers the caller at the headers; the next call can arrive while
  // the previous body is still being drained and then needs a second
  // connection. Flat means "a couple", against one per call for abort.
  EXPECT_LE(d.connections_opened_total(), 2u);
  EXPECT_EQ(d.closed_aborted_total(), 0u);
  EXPECT_GE(d.reused_requests_total(), static_cast<uint64_t>(kCalls) - 2);
  EXPECT_LE(drain_origin.connections_accepted(), 2);
  // The drained connection is clean: a request that fits gets its whole body.
  v1::FetchRequest fits;
  fits.set_url(drain_origin.base_url() + "/bytes?n=5000");
  CallResult ok = Fetch(fits);
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.response.body(), std::string(5000, 'x'));
  EXPECT_TRUE(ok.response.connection_reused());
  ExpectQuietAndSound(abort_key);
  ExpectQuietAndSound(drain_key);
  drain_origin.Stop();
}

TEST_F(DeadlinePolicyTest, DrainPastTheDrainTimeoutClosesAndCountsAborted) {
  ServerConfig config = Config();
  config.engine.defaults.fetch.on_deadline = OnDeadline::kDrain;
  config.engine.defaults.fetch.drain_timeout = absl::Milliseconds(200);
  StartServer(config);
  const absl::Time start = absl::Now();
  CallResult r = Get("/sleep?ms=3000", absl::Milliseconds(150));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // Answered at the deadline, not after the drain.
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1000));
  ASSERT_TRUE(PollUntil([&] { return PoolStats().closed_aborted_total() == 1; }, absl::Seconds(3)));
  const absl::Duration closed_after = absl::Now() - start;
  v1::HostPoolStats s = PoolStats();
  Print("drain past drain_timeout (200ms) of a 3 s response", s);
  EXPECT_LT(closed_after, absl::Milliseconds(2500));  // long before the origin's 3 s
  EXPECT_EQ(s.connections_opened_total(), 1u);
  EXPECT_EQ(s.idle_connections(), 0u);
  EXPECT_EQ(s.time_wait_estimate(), 1u);  // we closed first
  ExpectQuietAndSound(PoolKey());
}

TEST_F(DeadlinePolicyTest, DrainPastTheByteBudgetClosesAndCountsAborted) {
  ServerConfig config = Config();
  config.engine.defaults.fetch.on_deadline = OnDeadline::kDrain;
  config.engine.defaults.fetch.drain_max_bytes = 10000;
  StartServer(config);
  // The deadline passes mid-body; the rest (about 50 kB) exceeds the budget.
  CallResult r = Get("/slowbody?n=60000&interval_ms=40&chunk=6000", absl::Milliseconds(100));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(PollUntil([&] { return PoolStats().closed_aborted_total() == 1; }, absl::Seconds(3)));
  v1::HostPoolStats s = PoolStats();
  Print("drain past drain_max_bytes (10000) after a deadline", s);
  EXPECT_EQ(s.idle_connections(), 0u);
  EXPECT_EQ(s.connections_opened_total(), 1u);
  ExpectQuietAndSound(PoolKey());
}

TEST_F(DeadlinePolicyTest, OversizedBodyBeyondTheDrainBudgetIsClosed) {
  ServerConfig config = Config();
  config.engine.defaults.fetch.on_deadline = OnDeadline::kDrain;
  config.engine.defaults.fetch.drain_max_bytes = 10000;
  StartServer(config);
  // Declared length: refused at the headers, too much left to drain.
  v1::FetchRequest declared;
  declared.set_url(Url("/bytes?n=100000"));
  declared.set_max_response_bytes(1000);
  CallResult a = Fetch(declared);
  EXPECT_EQ(a.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(a.reason, "RESPONSE_TOO_LARGE");
  ASSERT_TRUE(WaitForQuietPool());
  EXPECT_EQ(PoolStats().closed_aborted_total(), 1u);
  // Chunked, length unknown: drained until the budget runs out, then closed.
  v1::FetchRequest chunked;
  chunked.set_url(Url("/chunked?n=200000&chunk=1000"));
  chunked.set_max_response_bytes(1000);
  CallResult b = Fetch(chunked);
  EXPECT_EQ(b.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(b.reason, "RESPONSE_TOO_LARGE");
  ASSERT_TRUE(PollUntil([&] { return PoolStats().closed_aborted_total() == 2; }, absl::Seconds(3)));
  // A chunked body within the budget is drained and the connection kept.
  chunked.set_url(Url("/chunked?n=5000&chunk=1000"));
  CallResult c = Fetch(chunked);
  EXPECT_EQ(c.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(WaitForQuietPool());
  v1::HostPoolStats s = PoolStats();
  Print("oversized bodies beyond / within drain_max_bytes", s);
  EXPECT_EQ(s.closed_aborted_total(), 2u);
  EXPECT_EQ(s.idle_connections(), 1u);
  EXPECT_EQ(s.connections_opened_total(), 3u);
  ExpectQuietAndSound(PoolKey());
}

}  // namespace
}  // namespace fetchpool::testing
