// Helpers for the *_session tests: threads that stand in for gRPC's around a
// gRPC-free call session (server/*_session.h), a real Engine against the
// loopback TestOrigin, and seeded randomness. No gRPC: ThreadSanitizer sees
// every hand-off here.
#ifndef FETCHPOOL_TESTS_SERVER_SESSION_TEST_UTIL_H_
#define FETCHPOOL_TESTS_SERVER_SESSION_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "engine/engine.h"
#include "tests/origin/test_origin.h"

namespace fetchpool::testing {

// The base seed of a test run: $FETCHPOOL_TEST_SEED, else a fixed one (so a
// run is repeatable; the thread interleavings still vary).
uint32_t BaseSeed();

// What a test scripts of a fake call: how its writes complete, and when
// the caller cancels.
struct CallScript {
  absl::Duration max_write_delay = absl::Microseconds(100);
  int fail_writes_from = -1;  // this write (from 0) and every later one completes !ok
  absl::optional<absl::Duration> cancel_after;  // OnCancel, from a thread of its own
};

// A thread that runs posted tasks one at a time, in order, each after its
// delay: a gRPC completion thread. The destructor runs what is queued, then
// joins.
class DelayedWorker {
 public:
  DelayedWorker();
  ~DelayedWorker();
  DelayedWorker(const DelayedWorker&) = delete;
  DelayedWorker& operator=(const DelayedWorker&) = delete;

  void Post(absl::Duration delay, std::function<void()> fn);

 private:
  struct Task {
    absl::Duration delay;
    std::function<void()> fn;
  };
  void Loop();

  std::mutex mu_;  // protects tasks_ and stop_
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

// What every fake call plays of gRPC around a session: it runs the
// session's events as reactions (counted), records Finish, delivers OnCancel
// from a thread of its own, and says when OnDone may come, as gRPC does:
// after Finish, with no reaction running and no cancel pending. Engine
// callbacks are not reactions: a Finish made from the engine's thread may
// be followed by OnDone (and the session's destruction) at once.
// Contract violations seen by the fake are collected in errors().
class FakeCall {
 public:
  explicit FakeCall(uint32_t seed) : rng_(seed) {}
  virtual ~FakeCall();  // joins the cancel thread
  FakeCall(const FakeCall&) = delete;
  FakeCall& operator=(const FakeCall&) = delete;

  // What the call saw so far (all of it once the call is done).
  struct Outcome {
    int finishes = 0;
    absl::Status status;  // of the first Finish
    // OnCancel had started when Finish was called. (Having returned would
    // not mean CANCELLED: a session may decide to finish OK, then unlock
    // and call Finish, and OnCancel may run in between.)
    bool cancel_started_before_finish = false;
    int writes_ok = 0;
    int write_failures = 0;
    std::vector<std::string> errors;  // contract violations
  };
  Outcome outcome() const;

 protected:
  // Runs a session event as a reaction; mu_ must not be held.
  void React(const std::function<void()>& event);
  // For an operation's completion: begin the reaction under mu_ (in the
  // same critical section that marks the operation complete, so OnDone
  // cannot slip in between), call the session without mu_, then end it.
  void BeginReactionLocked() { ++reactions_; }
  void EndReaction();
  // Counts a Finish (a second one, or one with a write outstanding, is an
  // error) and wakes WaitForDone.
  void RecordFinishLocked(const absl::Status& status);
  // The write side of a gRPC call: one write at a time, none after Finish.
  // Checks that and returns the write's index (from 0).
  int StartWriteLocked();
  // How that write completes: !ok from index `fail_from` on (-1: never) and
  // for half of the writes after a cancel. Counts it and begins the
  // OnWriteDone reaction.
  bool CompleteWriteLocked(int index, int fail_from);
  // Calls `on_cancel` as a reaction from a new thread after `delay`. If the
  // call finishes first, OnCancel still comes half of the time (before
  // OnDone), as when a caller gives up before the status reaches it.
  void ScheduleCancel(absl::Duration delay, std::function<void()> on_cancel);
  // Until OnDone may be delivered; false after `timeout`.
  bool WaitForDone(absl::Duration timeout);
  // An operation of the subclass's still to complete (e.g. a read the
  // session left outstanding when it finished): gRPC holds OnDone for it.
  // Called under mu_.
  virtual bool OperationPendingLocked() const { return false; }
  // WaitForDone must look again: an operation of the subclass completed.
  void NotifyLocked() { cv_.notify_all(); }
  // For a call that did not finish in `timeout`: prints `state` and the
  // errors so far, then aborts (the fake's threads still use the session).
  [[noreturn]] void AbortUnfinished(absl::Duration timeout, const std::string& state);

  void ErrorLocked(std::string what) { outcome_.errors.push_back(std::move(what)); }
  absl::Duration RandomDelayLocked(absl::Duration max);
  bool ChanceLocked(double p) { return std::bernoulli_distribution(p)(rng_); }

  // Protects the fake's state, here and in the subclasses. Never held while
  // calling the session; the session calls the fake with its own lock held.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::mt19937 rng_;
  bool cancel_started_ = false;  // pending operations now fail, as gRPC's do
  bool write_outstanding_ = false;
  Outcome outcome_;

 private:
  int reactions_ = 0;
  int writes_started_ = 0;
  bool cancel_pending_ = false;
  std::thread cancel_thread_;
};

// A real engine (kAbort, so a cancel ends a transfer at once) and origin.
class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  static EngineConfig DefaultConfig();
  void StartEngine(EngineConfig config = DefaultConfig());
  std::string Url(absl::string_view path) const;
  // Fails the test with the errors the call collected, if any.
  static void ExpectNoErrors(const FakeCall::Outcome& outcome, const std::string& context);

  TestOrigin origin_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_SERVER_SESSION_TEST_UTIL_H_
