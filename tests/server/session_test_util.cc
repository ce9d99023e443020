#include "tests/server/session_test_util.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "engine/engine_test_peer.h"

namespace fetchpool::testing {

uint32_t BaseSeed() {
  static const uint32_t seed = [] {
    uint32_t s = 20240611;
    const char* env = std::getenv("FETCHPOOL_TEST_SEED");
    if (env != nullptr && !absl::SimpleAtoi(env, &s)) s = 20240611;
    return s;
  }();
  return seed;
}

// ---- DelayedWorker ----

DelayedWorker::DelayedWorker() : thread_([this] { Loop(); }) {}

DelayedWorker::~DelayedWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void DelayedWorker::Post(absl::Duration delay, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(Task{delay, std::move(fn)});
  }
  cv_.notify_one();
}

void DelayedWorker::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, and nothing left
    Task task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    if (task.delay > absl::ZeroDuration()) {
      absl::SleepFor(task.delay);
    } else {
      std::this_thread::yield();
    }
    task.fn();
    lock.lock();
  }
}

// ---- FakeCall ----

namespace {

// A copy of `status` that shares no memory with it. absl::Status and
// absl::Cord count their references partly inside Debian's uninstrumented
// libabsl, so when a status made on the engine's thread is let go last on
// another, TSan sees the free but not the decrement that ordered it, and
// reports a race that is not there (tests/sanitizers/tsan.supp).
absl::Status Unshared(const absl::Status& status) {
  absl::Status copy(status.code(), std::string(status.message()));
  status.ForEachPayload([&copy](absl::string_view url, const absl::Cord& payload) {
    copy.SetPayload(url, absl::Cord(std::string(payload)));
  });
  return copy;
}

}  // namespace

FakeCall::~FakeCall() {
  if (cancel_thread_.joinable()) cancel_thread_.join();
}

FakeCall::Outcome FakeCall::outcome() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outcome_;
}

void FakeCall::React(const std::function<void()>& event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    BeginReactionLocked();
  }
  event();
  EndReaction();
}

void FakeCall::EndReaction() {
  std::lock_guard<std::mutex> lock(mu_);
  --reactions_;
  cv_.notify_all();
}

void FakeCall::RecordFinishLocked(const absl::Status& status) {
  if (write_outstanding_) ErrorLocked("Finish with a write outstanding");
  if (++outcome_.finishes > 1) {
    ErrorLocked("Finish called again, with " + status.ToString());
    return;
  }
  outcome_.status = Unshared(status);
  cv_.notify_all();
}

int FakeCall::StartWriteLocked() {
  if (outcome_.finishes > 0) ErrorLocked("StartWrite after Finish");
  if (write_outstanding_) ErrorLocked("StartWrite with a write outstanding");
  write_outstanding_ = true;
  return writes_started_++;
}

bool FakeCall::CompleteWriteLocked(int index, int fail_from) {
  const bool ok =
      !(fail_from >= 0 && index >= fail_from) && !(cancel_started_ && ChanceLocked(0.5));
  ++(ok ? outcome_.writes_ok : outcome_.write_failures);
  write_outstanding_ = false;
  BeginReactionLocked();
  return ok;
}

void FakeCall::ScheduleCancel(absl::Duration delay, std::function<void()> on_cancel) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_pending_ = true;
  }
  cancel_thread_ = std::thread([this, delay, on_cancel = std::move(on_cancel)] {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoNanoseconds(delay), [this] { return outcome_.finishes > 0; });
    if (outcome_.finishes > 0 && !ChanceLocked(0.5)) {
      cancel_pending_ = false;
      cv_.notify_all();
      return;
    }
    cancel_started_ = true;
    outcome_.cancel_started_before_finish = outcome_.finishes == 0;
    BeginReactionLocked();
    lock.unlock();
    on_cancel();
    lock.lock();
    cancel_pending_ = false;
    --reactions_;
    cv_.notify_all();
  });
}

bool FakeCall::WaitForDone(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] {
    return outcome_.finishes > 0 && reactions_ == 0 && !cancel_pending_ &&
           !OperationPendingLocked();
  });
}

void FakeCall::AbortUnfinished(absl::Duration timeout, const std::string& state) {
  std::fprintf(stderr, "call not finished after %s: %s; errors: %s\n",
               absl::FormatDuration(timeout).c_str(), state.c_str(),
               absl::StrJoin(outcome().errors, "; ").c_str());
  std::abort();
}

absl::Duration FakeCall::RandomDelayLocked(absl::Duration max) {
  const int64_t max_us = absl::ToInt64Microseconds(max);
  if (max_us <= 0) return absl::ZeroDuration();
  // A third of the completions come at once, the rest after up to `max`.
  if (ChanceLocked(1.0 / 3)) return absl::ZeroDuration();
  return absl::Microseconds(std::uniform_int_distribution<int64_t>(1, max_us)(rng_));
}

// ---- SessionTest ----

void SessionTest::SetUp() { ASSERT_TRUE(origin_.Start().ok()); }

void SessionTest::TearDown() {
  if (engine_ != nullptr) {
    const absl::Status invariants = EngineTestPeer::CheckInvariants(*engine_);
    EXPECT_TRUE(invariants.ok()) << invariants;
    engine_->Shutdown(absl::ZeroDuration());
    engine_.reset();
  }
  origin_.Stop();
}

EngineConfig SessionTest::DefaultConfig() {
  EngineConfig config;
  config.defaults.pool.max_connections = 8;
  config.defaults.pool.wait_timeout = absl::Seconds(30);
  config.defaults.fetch.on_deadline = OnDeadline::kAbort;
  return config;
}

void SessionTest::StartEngine(EngineConfig config) {
  config.allow_cidrs = {"127.0.0.0/8"};
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(std::move(config));
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine_ = *std::move(engine);
}

std::string SessionTest::Url(absl::string_view path) const {
  return origin_.base_url() + std::string(path);
}

void SessionTest::ExpectNoErrors(const FakeCall::Outcome& outcome, const std::string& context) {
  EXPECT_TRUE(outcome.errors.empty()) << context << ": " << absl::StrJoin(outcome.errors, "; ");
}

}  // namespace fetchpool::testing
