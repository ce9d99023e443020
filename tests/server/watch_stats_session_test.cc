// WatchStatsSession (the WatchStats call's logic, without gRPC) driven by
// threads standing in for gRPC: write completions from a worker thread after
// random short delays, OnCancel from another at a random moment, stats and
// timers from a real engine's loop thread, with intervals far below the
// service's 100 ms minimum so that a cancel lands on every phase: a pending
// timer, a pending stats request, a write in flight. Built without libgrpc,
// so ThreadSanitizer checks all of it.
#include "server/watch_stats_session.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/reason.h"
#include "tests/server/session_test_util.h"
#include "engine/engine_test_peer.h"

namespace fetchpool::testing {
namespace {

struct WatchScript : CallScript {
  absl::Duration interval = absl::Microseconds(100);
};

// gRPC's side of one WatchStats call.
class FakeWatchCall final : public FakeCall, private WatchStatsPort {
 public:
  FakeWatchCall(Engine& engine, WatchScript script, uint32_t seed)
      : FakeCall(seed),
        script_(script),
        session_(WatchStatsSession::Create(engine, WatchStatsSession::Params{script.interval, ""},
                                           this)) {}

  // The call starts (and, with a cancel_after, is cancelled then).
  void Begin() {
    if (script_.cancel_after) Cancel(*script_.cancel_after);
    React([this] { session_->Start(); });
  }
  void Cancel(absl::Duration after) {
    ScheduleCancel(after, [this] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        cancelled_during_write_ = write_outstanding_;
      }
      session_->OnCancel();
    });
  }
  // Waits for the end of the call, delivers OnDone and drops the call's
  // reference, as the reactor does when it deletes itself. The result
  // tells when the session is freed.
  std::weak_ptr<WatchStatsSession> End(absl::Duration timeout) {
    std::weak_ptr<WatchStatsSession> weak = session_;
    if (!WaitForDone(timeout)) AbortUnfinished(timeout, "WatchStats call");
    // DrainRegistry::Remove comes before OnDone: Drain has returned.
    if (drainer_.joinable()) drainer_.join();
    session_->OnDone();
    session_.reset();
    return weak;
  }

  // The server drains, from a thread of its own, after `after` (not a
  // reaction: the draining thread calls it); the thread is joined by End.
  void DrainAfter(absl::Duration after) {
    drainer_ = std::thread([this, after] {
      absl::SleepFor(after);
      session_->Drain();
    });
  }

  bool cancelled_during_write() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_during_write_;
  }

 private:
  void StartWrite(const v1::StatsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int index = StartWriteLocked();
    writer_.Post(RandomDelayLocked(script_.max_write_delay),
                 [this, response, index] { CompleteWrite(response, index); });
  }

  void CompleteWrite(const v1::StatsResponse* response, int index) {
    // Read while the write is in flight: the session must leave it alone.
    const v1::StatsResponse sent = *response;
    bool ok;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ok = CompleteWriteLocked(index, script_.fail_writes_from);
      if (ok && !sent.totals().host().empty()) ErrorLocked("totals carry a host");
    }
    session_->OnWriteDone(ok);
    EndReaction();
  }

  void Finish(const absl::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    RecordFinishLocked(status);
  }

  const WatchScript script_;
  std::shared_ptr<WatchStatsSession> session_;  // the call's reference
  // Under mu_:
  bool cancelled_during_write_ = false;
  std::thread drainer_;
  DelayedWorker writer_;  // destroyed (joined) first
};

// Until nothing holds the session any more (a timer or stats request still
// pending at OnDone lets go when the loop runs it).
bool Freed(const std::weak_ptr<WatchStatsSession>& session, Engine* engine,
           absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (!session.expired()) {
    if (absl::Now() > give_up) return false;
    if (engine != nullptr) EngineTestPeer::RunOnEveryLoopAndWait(*engine, [] {});
    absl::SleepFor(absl::Microseconds(200));
  }
  return true;
}

class WatchStatsSessionTest : public SessionTest {};

// Finish comes once whatever the cancel races with (a pending timer, a
// pending stats request, a write in flight, a failed write), and the
// session is freed once nothing refers to it.
TEST_F(WatchStatsSessionTest, CancelRacingTimersStatsAndWritesFinishesOnceAndFrees) {
  StartEngine();
  constexpr int kIterations = 1500;
  std::mt19937 rng;
  int during_write = 0, between_writes = 0, failed = 0;
  for (int it = 0; it < kIterations; ++it) {
    const uint32_t seed = BaseSeed() + it;
    rng.seed(seed);
    WatchScript script;
    script.interval = absl::Microseconds(std::uniform_int_distribution<int>(0, 400)(rng));
    script.max_write_delay = absl::Microseconds(std::uniform_int_distribution<int>(0, 200)(rng));
    script.cancel_after = absl::Microseconds(std::uniform_int_distribution<int>(0, 3000)(rng));
    if (std::bernoulli_distribution(0.2)(rng)) {
      script.fail_writes_from = std::uniform_int_distribution<int>(0, 5)(rng);
    }
    const std::string trace =
        absl::StrCat("iteration ", it, " (FETCHPOOL_TEST_SEED=", BaseSeed(), ", seed ", seed, ")");
    SCOPED_TRACE(trace);

    FakeWatchCall call(*engine_, script, seed);
    call.Begin();
    const std::weak_ptr<WatchStatsSession> session = call.End(absl::Seconds(20));
    const FakeCall::Outcome out = call.outcome();
    ExpectNoErrors(out, trace);
    ASSERT_EQ(out.finishes, 1);
    // OK only after a failed write, CANCELLED only after a cancel.
    if (out.status.ok()) {
      EXPECT_GT(out.write_failures, 0);
    } else {
      EXPECT_TRUE(absl::IsCancelled(out.status)) << out.status;
      EXPECT_TRUE(out.cancel_started_before_finish);
    }
    EXPECT_TRUE(Freed(session, engine_.get(), absl::Seconds(5))) << "session leaked";
    if (out.cancel_started_before_finish) {
      ++(call.cancelled_during_write() ? during_write : between_writes);
    }
    if (out.write_failures > 0) ++failed;
  }
  // The mix the seeds gave, so a change of seed that loses a case shows.
  EXPECT_GT(during_write, kIterations / 20);
  EXPECT_GT(between_writes, kIterations / 5);
  EXPECT_GT(failed, kIterations / 20);
}

// Timers and stats requests the engine drops unrun when it stops release
// their references: the sessions are freed once the calls end.
TEST_F(WatchStatsSessionTest, EngineStopReleasesPendingTimers) {
  StartEngine();
  constexpr int kCalls = 20;
  std::vector<std::unique_ptr<FakeWatchCall>> calls;
  for (int i = 0; i < kCalls; ++i) {
    WatchScript script;
    script.interval = absl::Milliseconds(20 + i);
    calls.push_back(std::make_unique<FakeWatchCall>(*engine_, script, BaseSeed() + i));
    calls.back()->Begin();
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  for (const auto& call : calls) {
    while (call->outcome().writes_ok == 0 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    ASSERT_GT(call->outcome().writes_ok, 0);
  }
  engine_->Shutdown(absl::ZeroDuration());
  std::vector<std::weak_ptr<WatchStatsSession>> sessions;
  for (const auto& call : calls) {
    call->Cancel(absl::ZeroDuration());
    sessions.push_back(call->End(absl::Seconds(10)));
    const FakeCall::Outcome out = call->outcome();
    ExpectNoErrors(out, "after the engine stopped");
    EXPECT_EQ(out.finishes, 1);
    EXPECT_TRUE(absl::IsCancelled(out.status)) << out.status;
  }
  // What was posted after the stop goes with the engine.
  engine_.reset();
  for (const auto& session : sessions) EXPECT_TRUE(Freed(session, nullptr, absl::Seconds(1)));
}

// A drain ends a watch UNAVAILABLE / SHUTTING_DOWN whatever it races with
// (a pending timer, a stats request, a write in flight, a cancel), once,
// and the session is freed.
TEST_F(WatchStatsSessionTest, DrainRacingTimersWritesAndCancelsFinishesOnce) {
  StartEngine();
  constexpr int kIterations = 500;
  std::mt19937 rng;
  int drained = 0;
  for (int it = 0; it < kIterations; ++it) {
    const uint32_t seed = BaseSeed() + it;
    rng.seed(seed);
    WatchScript script;
    script.interval = absl::Microseconds(std::uniform_int_distribution<int>(0, 400)(rng));
    script.max_write_delay = absl::Microseconds(std::uniform_int_distribution<int>(0, 200)(rng));
    if (std::bernoulli_distribution(0.3)(rng)) {
      script.cancel_after = absl::Microseconds(std::uniform_int_distribution<int>(0, 3000)(rng));
    }
    const std::string trace =
        absl::StrCat("iteration ", it, " (FETCHPOOL_TEST_SEED=", BaseSeed(), ", seed ", seed, ")");
    SCOPED_TRACE(trace);
    FakeWatchCall call(*engine_, script, seed);
    call.DrainAfter(absl::Microseconds(std::uniform_int_distribution<int>(0, 2000)(rng)));
    call.Begin();
    const std::weak_ptr<WatchStatsSession> session = call.End(absl::Seconds(20));
    const FakeCall::Outcome out = call.outcome();
    ExpectNoErrors(out, trace);
    ASSERT_EQ(out.finishes, 1);
    if (absl::IsCancelled(out.status)) {
      EXPECT_TRUE(out.cancel_started_before_finish);
    } else if (out.status.ok()) {
      // A write failed because the cancel had begun (the fake fails writes
      // then, as gRPC does) before the session heard of the cancel: the
      // stream is gone, and the session finishes OK, which nobody reads.
      EXPECT_GT(out.write_failures, 0);
      EXPECT_TRUE(out.cancel_started_before_finish);
    } else {
      EXPECT_EQ(out.status.code(), absl::StatusCode::kUnavailable) << out.status;
      EXPECT_EQ(ReasonOf(out.status), "SHUTTING_DOWN");
      ++drained;
    }
    EXPECT_TRUE(Freed(session, engine_.get(), absl::Seconds(5))) << "session leaked";
  }
  EXPECT_GT(drained, kIterations / 2);
}

TEST(WatchStatsParseRequestTest, ChecksTheIntervalAndTheHost) {
  v1::WatchStatsRequest request;
  absl::StatusOr<WatchStatsSession::Params> params = WatchStatsSession::ParseRequest(request);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->interval, absl::Seconds(1));
  EXPECT_EQ(params->pool_key, "");

  request.mutable_interval()->set_nanos(250 * 1000 * 1000);
  request.set_host("HTTP://API");
  params = WatchStatsSession::ParseRequest(request);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->interval, absl::Milliseconds(250));
  EXPECT_EQ(params->pool_key, "http://api:80");

  request.mutable_interval()->set_nanos(1000);  // 1us: a unit mistake
  params = WatchStatsSession::ParseRequest(request);
  EXPECT_TRUE(absl::IsInvalidArgument(params.status())) << params.status();
  EXPECT_EQ(ReasonOf(params.status()), "INVALID_OPTION");

  request.mutable_interval()->set_nanos(0);
  request.mutable_interval()->set_seconds(61);
  EXPECT_FALSE(WatchStatsSession::ParseRequest(request).ok());

  request.mutable_interval()->set_seconds(1);
  request.set_host("ftp://api");
  params = WatchStatsSession::ParseRequest(request);
  EXPECT_EQ(ReasonOf(params.status()), "UNSUPPORTED_SCHEME");
}

}  // namespace
}  // namespace fetchpool::testing
