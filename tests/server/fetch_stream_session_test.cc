// FetchStreamSession (the FetchStream call's logic, without gRPC) driven by
// threads standing in for gRPC: reads and write completions come from two
// worker threads after random short delays, OnCancel from a third at a
// random moment, fetch completions from a real engine's loop thread. Built
// without libgrpc, so ThreadSanitizer checks all of it.
#include "server/fetch_stream_session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/reason.h"
#include "pool/clock.h"
#include "tests/server/session_test_util.h"

namespace fetchpool::testing {
namespace {

struct StreamScript : CallScript {
  std::vector<v1::FetchRequest> requests;  // the caller's, in order; then it half-closes
  size_t max_in_flight = FetchStreamSession::kDefaultMaxInFlight;
  absl::Duration max_read_delay = absl::Microseconds(100);
  CallerScope scope;  // the caller and its books
  // Drain (the server's SIGTERM), from a thread of its own, after this long.
  absl::optional<absl::Duration> drain_after;
  // Half-close after the last request (else the caller keeps the stream
  // open, idle, as a long-lived SDK stream does).
  bool half_close = true;
};

// gRPC's side of one FetchStream call.
class FakeStreamCall final : public FakeCall, private FetchStreamPort {
 public:
  FakeStreamCall(Engine& engine, StreamScript script, uint32_t seed)
      : FakeCall(seed),
        script_(std::move(script)),
        session_(std::make_unique<FetchStreamSession>(
            engine, MonotonicClock::Get().Now() + absl::Seconds(60),
            static_cast<FetchStreamPort*>(this), script_.max_in_flight, script_.scope)) {}

  // Plays the call to its end: OnDone, then the session is destroyed, as
  // the reactor deletes itself. A call that never finishes stops the test
  // binary (AbortUnfinished): its threads still use the session.
  void Run(absl::Duration timeout) {
    if (script_.cancel_after) {
      ScheduleCancel(*script_.cancel_after, [this] { session_->OnCancel(); });
    }
    std::thread drainer;
    if (script_.drain_after) {
      // Not a reaction: the server's draining thread calls it.
      drainer = std::thread([this, delay = *script_.drain_after] {
        absl::SleepFor(delay);
        session_->Drain();
      });
    }
    React([this] { session_->Start(); });
    if (!WaitForDone(timeout)) AbortUnfinished(timeout, Describe(session_->GetState()));
    // DrainRegistry::Remove comes before the session goes: Drain has returned.
    if (drainer.joinable()) drainer.join();
    session_->OnDone();
    session_.reset();
  }

  // Answers written successfully, by id.
  std::map<std::string, std::vector<v1::FetchResponse>> answers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return answers_;
  }
  // Requests read (each must get one answer unless writes failed).
  size_t delivered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_;
  }
  // Most requests read and not yet answered at once (without write failures).
  size_t max_outstanding() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_outstanding_;
  }

 private:
  static std::string Describe(const FetchStreamSession::State& s) {
    return absl::StrCat("running=", s.running_fetches, " queued_writes=", s.queued_writes,
                        " reading=", s.reading, " read_paused=", s.read_paused,
                        " reads_done=", s.reads_done, " writing=", s.writing,
                        " cancelled=", s.cancelled, " broken=", s.broken,
                        " draining=", s.draining, " finished=", s.finished);
  }

  // Requests read whose answer has not been written yet. It never exceeds
  // the session's own count (running + queued writes): the fake counts a
  // write before OnWriteDone tells the session.
  size_t UnansweredLocked() const {
    return delivered_ - static_cast<size_t>(outcome_.writes_ok);
  }

  void StartRead(v1::FetchRequest* request) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (outcome_.finishes > 0) ErrorLocked("StartRead after Finish");
    if (read_outstanding_) ErrorLocked("StartRead with a read outstanding");
    if (outcome_.write_failures == 0 && UnansweredLocked() >= script_.max_in_flight) {
      ErrorLocked(absl::StrCat("StartRead with ", UnansweredLocked(), " requests unanswered"));
    }
    read_outstanding_ = true;
    reader_.Post(RandomDelayLocked(script_.max_read_delay),
                 [this, request] { CompleteRead(request); });
  }

  void CompleteRead(v1::FetchRequest* request) {
    bool ok = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // After a cancel or a Finish gRPC fails the read; after the last
      // request the caller half-closes, or stays idle (the read completes
      // only when the call ends).
      if (!cancel_started_ && outcome_.finishes == 0 && next_request_ >= script_.requests.size() &&
          !script_.half_close) {
        idle_read_ = request;
        return;
      }
      if (!cancel_started_ && outcome_.finishes == 0 && next_request_ < script_.requests.size()) {
        *request = script_.requests[next_request_++];
        ok = true;
        ++delivered_;
        max_outstanding_ = std::max(max_outstanding_, UnansweredLocked());
      }
      read_outstanding_ = false;
      BeginReactionLocked();
      NotifyLocked();
    }
    session_->OnReadDone(ok);
    EndReaction();
  }

  bool OperationPendingLocked() const override { return read_outstanding_; }

  void StartWrite(const v1::FetchResponse* response, bool buffer_hint) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int index = StartWriteLocked();
    writer_.Post(RandomDelayLocked(script_.max_write_delay),
                 [this, response, index] { CompleteWrite(response, index); });
  }

  void CompleteWrite(const v1::FetchResponse* response, int index) {
    // Read while the write is in flight: the session must leave it alone.
    v1::FetchResponse sent = *response;
    bool ok;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ok = CompleteWriteLocked(index, script_.fail_writes_from);
      if (ok) answers_[sent.id()].push_back(std::move(sent));
    }
    session_->OnWriteDone(ok);
    EndReaction();
  }

  void Finish(const absl::Status& status) override {
    // The session's lock is not held here, so its state can be asked for.
    const FetchStreamSession::State s = session_->GetState();
    std::lock_guard<std::mutex> lock(mu_);
    // Only a drain finishes with a read outstanding: gRPC then fails it.
    if (read_outstanding_ && !s.draining) ErrorLocked("Finish with a read outstanding");
    if (idle_read_ != nullptr) {
      v1::FetchRequest* request = idle_read_;
      idle_read_ = nullptr;
      reader_.Post(absl::ZeroDuration(), [this, request] { CompleteRead(request); });
    }
    if (s.running_fetches != 0 || !s.reads_done || s.writing ||
        (s.queued_writes != 0 && !s.broken)) {
      ErrorLocked("Finish too early: " + Describe(s));
    }
    RecordFinishLocked(status);
  }

  const StreamScript script_;
  std::unique_ptr<FetchStreamSession> session_;
  // Under mu_:
  size_t next_request_ = 0;
  size_t delivered_ = 0;  // requests read (ok)
    size_t max_outstanding_ = 0;
  bool read_outstanding_ = false;
  v1::FetchRequest* idle_read_ = nullptr;  // a read held until the call ends
  std::map<std::string, std::vector<v1::FetchResponse>> answers_;
  // Destroyed (joined) first: by then they have nothing left to run.
  DelayedWorker reader_;
  DelayedWorker writer_;
};

v1::FetchRequest Request(std::string id, std::string url) {
  v1::FetchRequest request;
  request.set_id(std::move(id));
  request.set_url(std::move(url));
  return request;
}

class FetchStreamSessionTest : public SessionTest {
 protected:
  // Fast and slow fetches and a few the session refuses itself.
  std::vector<v1::FetchRequest> RandomRequests(std::mt19937& rng, int n) const {
    std::vector<v1::FetchRequest> requests;
    for (int i = 0; i < n; ++i) {
      const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
      std::string url;
      if (kind == 0) {
        url = "ftp://nope/";  // UNSUPPORTED_SCHEME, answered without a fetch
      } else if (kind <= 2) {
        url = Url(absl::StrCat("/sleep?ms=", std::uniform_int_distribution<int>(1, 5)(rng)));
      } else {
        url = Url(absl::StrCat("/echo?i=", i));
      }
      requests.push_back(Request(absl::StrCat("r", i), std::move(url)));
    }
    return requests;
  }
};

// Every request gets exactly one answer with its id; Finish comes once,
// after the reads, the fetches and the writes; reading stays under the cap.
// Some calls are cancelled at a random moment, some lose their stream
// (writes fail), so Finish also comes from the engine's thread.
TEST_F(FetchStreamSessionTest, RandomCallsAnswerEveryRequestOnceAndFinishOnce) {
  StartEngine();
  constexpr int kIterations = 600;
  std::mt19937 rng(BaseSeed());
  int cancelled = 0, broken = 0, paused = 0;
  for (int it = 0; it < kIterations; ++it) {
    const uint32_t seed = BaseSeed() + it;
    rng.seed(seed);
    StreamScript script;
    const int n = std::uniform_int_distribution<int>(0, 24)(rng);
    script.requests = RandomRequests(rng, n);
    const size_t caps[] = {1, 2, 3, 5, FetchStreamSession::kDefaultMaxInFlight};
    script.max_in_flight = caps[std::uniform_int_distribution<int>(0, 4)(rng)];
    script.max_read_delay = absl::Microseconds(std::uniform_int_distribution<int>(0, 150)(rng));
    script.max_write_delay = absl::Microseconds(std::uniform_int_distribution<int>(0, 150)(rng));
    if (std::bernoulli_distribution(0.3)(rng)) {
      script.cancel_after = absl::Microseconds(std::uniform_int_distribution<int>(0, 3000)(rng));
    }
    if (std::bernoulli_distribution(0.15)(rng)) {
      script.fail_writes_from = std::uniform_int_distribution<int>(0, std::max(n - 1, 0))(rng);
    }
    const std::string trace = absl::StrCat("iteration ", it, " (FETCHPOOL_TEST_SEED=", BaseSeed(),
                                           ", seed ", seed, "), ", n, " requests, cap ",
                                           script.max_in_flight);
    SCOPED_TRACE(trace);

    FakeStreamCall call(*engine_, script, seed);
    call.Run(absl::Seconds(20));
    const FakeCall::Outcome out = call.outcome();
    ExpectNoErrors(out, trace);
    ASSERT_EQ(out.finishes, 1);

    const auto answers = call.answers();
    std::set<std::string> ids;
    for (const v1::FetchRequest& r : script.requests) ids.insert(r.id());
    for (const auto& [id, copies] : answers) {
      EXPECT_EQ(ids.count(id), 1u) << "an answer for no request: " << id;
      EXPECT_EQ(copies.size(), 1u) << "answered " << copies.size() << " times: " << id;
    }
    // CANCELLED only after a cancel; OK without one (a broken stream too).
    if (!out.status.ok()) {
      EXPECT_TRUE(absl::IsCancelled(out.status)) << out.status;
      EXPECT_TRUE(out.cancel_started_before_finish);
    }
    if (!out.cancel_started_before_finish) {
      EXPECT_TRUE(out.status.ok()) << out.status;
    }
    if (out.cancel_started_before_finish) ++cancelled;
    if (out.write_failures > 0) ++broken;
    if (script.max_in_flight < static_cast<size_t>(n)) ++paused;
    if (out.cancel_started_before_finish || out.write_failures > 0) continue;

    // A call that ran its course: every request answered, in full.
    EXPECT_EQ(answers.size(), script.requests.size());
    EXPECT_LE(call.max_outstanding(), script.max_in_flight);
    for (const v1::FetchRequest& r : script.requests) {
      auto found = answers.find(r.id());
      if (found == answers.end() || found->second.empty()) {
        ADD_FAILURE() << "no answer for " << r.id();
        continue;
      }
      const v1::FetchResponse& a = found->second.front();
      if (r.url() == "ftp://nope/") {
        EXPECT_EQ(a.error().reason(), "UNSUPPORTED_SCHEME") << r.id();
      } else {
        EXPECT_FALSE(a.has_error()) << r.id() << ": " << a.error().message();
        EXPECT_EQ(a.status(), 200) << r.id();
      }
    }
  }
  // The mix the seeds gave, so a change of seed that loses a case shows.
  EXPECT_GT(cancelled, kIterations / 10);
  EXPECT_GT(broken, kIterations / 20);
  EXPECT_GT(paused, kIterations / 4);
}

// A fast caller with slow writes: reading stops at the cap, resumes as
// answers go out, and every request is still answered.
TEST_F(FetchStreamSessionTest, ReadingPausesAtTheCapAndResumes) {
  StartEngine();
  for (int it = 0; it < 10; ++it) {
    const uint32_t seed = BaseSeed() + it;
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    StreamScript script;
    for (int i = 0; i < 40; ++i) {
      script.requests.push_back(Request(absl::StrCat("r", i), Url(absl::StrCat("/echo?i=", i))));
    }
    script.max_in_flight = 3;
    script.max_read_delay = absl::ZeroDuration();
    script.max_write_delay = absl::Microseconds(800);
    FakeStreamCall call(*engine_, script, seed);
    call.Run(absl::Seconds(20));
    const FakeCall::Outcome out = call.outcome();
    ExpectNoErrors(out, "pause");
    EXPECT_TRUE(out.status.ok()) << out.status;
    EXPECT_EQ(call.max_outstanding(), 3u);  // reached the cap, never passed it
    EXPECT_EQ(call.answers().size(), 40u);
  }
}

// A cancel ends the running fetches (10 s each) at once, also while reading
// is paused at the cap, and the call finishes CANCELLED.
TEST_F(FetchStreamSessionTest, CancelEndsRunningFetches) {
  StartEngine();
  for (int it = 0; it < 3; ++it) {
    const uint32_t seed = BaseSeed() + it;
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    StreamScript script;
    for (int i = 0; i < 6; ++i) {
      script.requests.push_back(Request(absl::StrCat("slow", i), Url("/sleep?ms=10000")));
    }
    script.max_in_flight = 4;  // 4 running, reading paused
    script.cancel_after = absl::Milliseconds(300);
    FakeStreamCall call(*engine_, script, seed);
    const absl::Time start = absl::Now();
    call.Run(absl::Seconds(5));
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
    const FakeCall::Outcome out = call.outcome();
    ExpectNoErrors(out, "cancel");
    EXPECT_TRUE(absl::IsCancelled(out.status)) << out.status;
    for (const auto& [id, copies] : call.answers()) {
      EXPECT_EQ(copies.front().error().reason(), "CANCELLED") << id;
    }
  }
}

// Answers hold their share of the buffer budget until written: with slow
// writes and a budget of five bodies, ten fetches of one body each are all
// answered, OK or BUFFER_BUDGET_EXCEEDED (never lost, never truncated), and
// once the call is over every byte is back, also when writes fail.
TEST_F(FetchStreamSessionTest, BufferBudgetIsHeldUntilAnswersAreWritten) {
  EngineConfig config = DefaultConfig();
  config.max_buffered_bytes = 5 * 200000;
  StartEngine(config);
  for (int it = 0; it < 6; ++it) {
    const uint32_t seed = BaseSeed() + it;
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    StreamScript script;
    for (int i = 0; i < 10; ++i) {
      script.requests.push_back(Request(absl::StrCat("r", i), Url("/bytes?n=200000")));
    }
    script.max_read_delay = absl::ZeroDuration();
    script.max_write_delay = absl::Milliseconds(30);
    if (it % 3 == 2) script.fail_writes_from = 2;  // the stream breaks: answers dropped
    FakeStreamCall call(*engine_, script, seed);
    call.Run(absl::Seconds(20));
    const FakeCall::Outcome out = call.outcome();
    ExpectNoErrors(out, "budget");
    EXPECT_EQ(engine_->buffered_bytes(), 0u);
    if (script.fail_writes_from >= 0) continue;
    EXPECT_EQ(call.answers().size(), 10u);
    for (const auto& [id, copies] : call.answers()) {
      const v1::FetchResponse& answer = copies.front();
      if (answer.has_error()) {
        EXPECT_EQ(answer.error().reason(), "BUFFER_BUDGET_EXCEEDED") << id;
      } else {
        EXPECT_EQ(answer.body().size(), 200000u) << id;
      }
    }
  }
}

// A caller at its in-flight quota: further fetches of the stream are
// answered CALLER_QUOTA_EXCEEDED at once, the admitted ones run, every
// request is answered once, each counted once, and every slot comes back.
TEST_F(FetchStreamSessionTest, CallerQuotaRefusesFetchesPastTheCap) {
  StartEngine();
  CallerQuotas quotas(2);
  CallerOutcomes outcomes(nullptr);
  StreamScript script;
  for (int i = 0; i < 10; ++i) {
    script.requests.push_back(Request(absl::StrCat("r", i), Url("/sleep?ms=2000")));
  }
  script.scope.caller = "webhooks";
  script.scope.quotas = &quotas;
  script.scope.outcomes = &outcomes;
  FakeStreamCall call(*engine_, script, BaseSeed());
  call.Run(absl::Seconds(30));
  const FakeCall::Outcome out = call.outcome();
  ExpectNoErrors(out, "quota");
  EXPECT_TRUE(out.status.ok()) << out.status;
  size_t admitted = 0;
  size_t refused = 0;
  for (const auto& [id, copies] : call.answers()) {
    ASSERT_EQ(copies.size(), 1u) << id;
    if (copies.front().has_error()) {
      EXPECT_EQ(copies.front().error().reason(), "CALLER_QUOTA_EXCEEDED") << id;
      ++refused;
    } else {
      ++admitted;
    }
  }
  EXPECT_EQ(admitted + refused, 10u);
  EXPECT_GE(admitted, 1u);
  EXPECT_LE(admitted, 10u - refused);
  EXPECT_GE(refused, 1u);  // the third request arrives long before 2 s pass
  EXPECT_EQ(outcomes.CountOf("webhooks", "OK"), admitted);
  EXPECT_EQ(outcomes.CountOf("webhooks", "CALLER_QUOTA_EXCEEDED"), refused);
  EXPECT_EQ(quotas.InFlight("webhooks"), 0u);
}

}  // namespace
}  // namespace fetchpool::testing

namespace fetchpool::testing {
namespace {

// A drain (SIGTERM) answers the fetches in flight, then finishes UNAVAILABLE
// / SHUTTING_DOWN, though the caller keeps its stream open and idle (a read
// outstanding that only the end of the call completes).
TEST_F(FetchStreamSessionTest, DrainAnswersTheFetchesInFlightThenFinishesShuttingDown) {
  StartEngine();
  StreamScript script;
  for (int i = 0; i < 6; ++i) {
    script.requests.push_back(Request(absl::StrCat("slow", i), Url("/sleep?ms=300")));
  }
  script.half_close = false;
  script.drain_after = absl::Milliseconds(100);
  FakeStreamCall call(*engine_, script, BaseSeed());
  const absl::Time start = absl::Now();
  call.Run(absl::Seconds(5));
  const FakeCall::Outcome out = call.outcome();
  ExpectNoErrors(out, "drain");
  EXPECT_EQ(out.status.code(), absl::StatusCode::kUnavailable) << out.status;
  EXPECT_EQ(ReasonOf(out.status), "SHUTTING_DOWN");
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  ASSERT_EQ(call.answers().size(), 6u);
  for (const auto& [id, copies] : call.answers()) {
    EXPECT_EQ(copies.front().status(), 200) << id;
  }
}

// Drains at random moments of random calls: every request read gets exactly
// one answer (its fetch's, or SHUTTING_DOWN when read after the drain
// began), and the call finishes once: OK when it was over first, else
// UNAVAILABLE / SHUTTING_DOWN.
TEST_F(FetchStreamSessionTest, RandomDrainsAnswerEveryRequestReadOnce) {
  StartEngine();
  std::mt19937 rng(BaseSeed());
  int drained = 0, refused = 0;
  for (int it = 0; it < 300; ++it) {
    const uint32_t seed = BaseSeed() + it;
    rng.seed(seed);
    StreamScript script;
    const int n = std::uniform_int_distribution<int>(0, 24)(rng);
    script.requests = RandomRequests(rng, n);
    const size_t caps[] = {1, 3, FetchStreamSession::kDefaultMaxInFlight};
    script.max_in_flight = caps[std::uniform_int_distribution<int>(0, 2)(rng)];
    script.max_read_delay = absl::Microseconds(std::uniform_int_distribution<int>(0, 300)(rng));
    script.max_write_delay = absl::Microseconds(std::uniform_int_distribution<int>(0, 150)(rng));
    script.half_close = std::bernoulli_distribution(0.5)(rng);
    script.drain_after = absl::Microseconds(std::uniform_int_distribution<int>(0, 3000)(rng));
    const std::string trace = absl::StrCat("iteration ", it, " (FETCHPOOL_TEST_SEED=", BaseSeed(),
                                           ", seed ", seed, "), ", n, " requests");
    SCOPED_TRACE(trace);
    FakeStreamCall call(*engine_, script, seed);
    call.Run(absl::Seconds(20));
    const FakeCall::Outcome out = call.outcome();
    ExpectNoErrors(out, trace);
    ASSERT_EQ(out.finishes, 1);
    // A read that completes after the session finished (the caller's
    // message crossed the drain) goes unanswered here: the SDK fails it with
    // the call's status, UNAVAILABLE / SHUTTING_DOWN.
    const auto answers = call.answers();
    EXPECT_LE(answers.size(), call.delivered());
    if (answers.size() < call.delivered()) {
      EXPECT_EQ(ReasonOf(out.status), "SHUTTING_DOWN") << out.status;
    }
    for (const auto& [id, copies] : answers) {
      EXPECT_EQ(copies.size(), 1u) << "answered " << copies.size() << " times: " << id;
      if (copies.front().error().reason() == "SHUTTING_DOWN") ++refused;
    }
    if (out.status.ok()) {
      EXPECT_TRUE(script.half_close) << "an idle stream ended without the drain";
    } else {
      EXPECT_EQ(ReasonOf(out.status), "SHUTTING_DOWN") << out.status;
      ++drained;
    }
  }
  // Both endings happened, and some requests were read after the drain.
  EXPECT_GT(drained, 0);
  EXPECT_LT(drained, 300);
  RecordProperty("drained", drained);
  RecordProperty("refused_after_drain", refused);
}

}  // namespace
}  // namespace fetchpool::testing
