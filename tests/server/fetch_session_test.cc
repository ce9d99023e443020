// FetchSession (the unary Fetch call's logic, without gRPC) with OnCancel
// from another thread at random moments around Start, before and after the
// engine's id for the fetch is known, and completions from a real engine's
// loop thread. Built without libgrpc, so ThreadSanitizer checks all of it.
#include "server/fetch_session.h"

#include <gtest/gtest.h>

#include <functional>

#include <future>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "pool/clock.h"
#include "tests/server/session_test_util.h"

namespace fetchpool::testing {
namespace {

// gRPC's side of one Fetch call.
class FakeUnaryCall final : public FakeCall, private FetchCallPort {
 public:
  FakeUnaryCall(Engine& engine, uint32_t seed)
      : FakeCall(seed),
        session_(std::make_unique<FetchSession>(engine, static_cast<FetchCallPort*>(this),
                                                &response_)) {}

  // Plays the call to its end, then destroys the session (gRPC's OnDone).
  // OnCancel comes from another thread `cancel_after` the call starts, or
  // with `cancel_first` before Start: the state a cancel that lands while
  // Start waits for Engine::Fetch's id leaves behind.
  void Run(const v1::FetchRequest& request, absl::optional<absl::Duration> cancel_after,
           absl::Duration timeout, bool cancel_first = false,
           const std::function<void()>& before_on_done = nullptr) {
    if (cancel_after) ScheduleCancel(*cancel_after, [this] { session_->OnCancel(); });
    if (cancel_first) React([this] { session_->OnCancel(); });
    v1::FetchRequest own = request;  // Start takes its body
    React([&] { session_->Start(&own, MonotonicClock::Get().Now() + absl::Seconds(60)); });
    if (!WaitForDone(timeout)) AbortUnfinished(timeout, "Fetch call");
    if (before_on_done) before_on_done();  // the response is being sent
    session_.reset();
  }

  // The response's HTTP status as Finish(OK) found it.
  int http_status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return http_status_;
  }

 private:
  void Finish(const absl::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (status.ok()) http_status_ = response_.status();
    RecordFinishLocked(status);
  }

  v1::FetchResponse response_;  // gRPC's; filled before Finish(OK)
  std::unique_ptr<FetchSession> session_;
  int http_status_ = 0;  // under mu_
};

v1::FetchRequest Request(std::string url) {
  v1::FetchRequest request;
  request.set_url(std::move(url));
  return request;
}

class FetchSessionTest : public SessionTest {};

// The answer's share of the buffer budget is held until gRPC has sent the
// response (OnDone destroys the session), not released when the engine
// answers: the body is still in memory until then.
TEST_F(FetchSessionTest, BufferBudgetIsHeldUntilTheResponseIsSent) {
  EngineConfig config = DefaultConfig();
  config.max_buffered_bytes = 1 << 20;
  StartEngine(config);
  FakeUnaryCall call(*engine_, BaseSeed());
  uint64_t held_at_finish = 0;
  call.Run(Request(Url("/bytes?n=100000")), absl::nullopt, absl::Seconds(20), false,
           [&] { held_at_finish = engine_->buffered_bytes(); });
  ExpectNoErrors(call.outcome(), "budget");
  EXPECT_TRUE(call.outcome().status.ok()) << call.outcome().status;
  EXPECT_EQ(held_at_finish, 100000u);
  EXPECT_EQ(engine_->buffered_bytes(), 0u);
}

// The only connection is taken, so every fetch waits in the queue until
// cancelled: a cancel that arrives before Fetch has returned its id must
// not be lost (the call would then wait 60 s).
TEST_F(FetchSessionTest, CancelBeforeOrAfterTheIdIsKnownEndsTheFetch) {
  EngineConfig config = DefaultConfig();
  config.defaults.pool.max_connections = 1;
  config.defaults.pool.wait_timeout = absl::Seconds(60);
  // The blocker sends nothing for as long as the loop runs (long under
  // sanitizers): neither the speed floor nor max_request_time may end it.
  config.defaults.fetch.min_transfer_speed = 0;
  config.defaults.fetch.max_request_time = absl::ZeroDuration();
  StartEngine(config);
  std::promise<absl::StatusOr<FetchResult>> blocker_done;
  FetchSpec blocker;
  blocker.url = Url("/sleep?ms=60000");
  blocker.pool_key = absl::StrCat("http://127.0.0.1:", origin_.port());
  const Engine::FetchId blocker_id = engine_->Fetch(
      blocker, [&](absl::StatusOr<FetchResult> r) { blocker_done.set_value(std::move(r)); });
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (origin_.requests_served() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(origin_.requests_served(), 1);

  constexpr int kIterations = 1000;
  std::mt19937 rng;
  for (int it = 0; it < kIterations; ++it) {
    const uint32_t seed = BaseSeed() + it;
    rng.seed(seed);
    const std::string trace = absl::StrCat("iteration ", it, " (seed ", seed, ")");
    SCOPED_TRACE(trace);
    FakeUnaryCall call(*engine_, seed);
    const bool cancel_first = it % 3 == 0;
    absl::optional<absl::Duration> cancel_after;
    if (!cancel_first) {
      cancel_after = absl::Microseconds(std::uniform_int_distribution<int>(0, 300)(rng));
    }
    call.Run(Request(Url("/echo")), cancel_after, absl::Seconds(20), cancel_first);
    const FakeCall::Outcome out = call.outcome();
    ExpectNoErrors(out, trace);
    EXPECT_EQ(out.finishes, 1);
    EXPECT_TRUE(absl::IsCancelled(out.status)) << out.status;
  }
  engine_->Cancel(blocker_id);
  EXPECT_TRUE(absl::IsCancelled(blocker_done.get_future().get().status()));
}

// Bad requests finish from Start; good ones with the answer or, when the
// cancel wins, CANCELLED; never twice, whichever comes first.
TEST_F(FetchSessionTest, FinishesOnceWhetherTheCancelComesFirstOrLast) {
  StartEngine();
  constexpr int kIterations = 1000;
  std::mt19937 rng;
  int cancelled = 0, answered = 0;
  for (int it = 0; it < kIterations; ++it) {
    const uint32_t seed = BaseSeed() + it;
    rng.seed(seed);
    const std::string trace = absl::StrCat("iteration ", it, " (seed ", seed, ")");
    SCOPED_TRACE(trace);
    const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
    const bool bad = kind == 0;
    std::string url = "ftp://nope/";
    if (!bad) {
      url = kind <= 3
                ? Url(absl::StrCat("/sleep?ms=", std::uniform_int_distribution<int>(1, 3)(rng)))
                : Url("/echo");
    }
    absl::optional<absl::Duration> cancel_after;
    if (std::bernoulli_distribution(0.5)(rng)) {
      cancel_after = absl::Microseconds(std::uniform_int_distribution<int>(0, 3000)(rng));
    }
    FakeUnaryCall call(*engine_, seed);
    call.Run(Request(url), cancel_after, absl::Seconds(20));
    const FakeCall::Outcome out = call.outcome();
    ExpectNoErrors(out, trace);
    EXPECT_EQ(out.finishes, 1);
    if (bad) {
      EXPECT_TRUE(absl::IsInvalidArgument(out.status)) << out.status;
    } else if (out.status.ok()) {
      EXPECT_EQ(call.http_status(), 200);
      ++answered;
    } else {
      EXPECT_TRUE(out.cancel_started_before_finish) << out.status;
      EXPECT_TRUE(absl::IsCancelled(out.status)) << out.status;
      ++cancelled;
    }
  }
  EXPECT_GT(cancelled, kIterations / 20);
  EXPECT_GT(answered, kIterations / 2);
}

}  // namespace
}  // namespace fetchpool::testing
