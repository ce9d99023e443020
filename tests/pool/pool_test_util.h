#ifndef FETCHPOOL_TESTS_POOL_POOL_TEST_UTIL_H_
#define FETCHPOOL_TESTS_POOL_POOL_TEST_UTIL_H_

// Shared helpers for HostPool tests: a recorder that proves every lease
// callback runs exactly once, and an invariant check with a message.

#include <deque>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "pool/host_pool.h"
#include "common/reason.h"

namespace fetchpool {

// What became of one Acquire.
struct Outcome {
  std::string name;                 // for messages
  HostPool::WaiterId id = 0;        // Acquire's return value
  int calls = 0;                    // how often the callback ran
  absl::StatusOr<Lease> result = absl::UnknownError("callback has not run");
  std::string invariant_error;      // non-empty when broken inside the callback
  // Runs inside the callback, after the result is recorded (re-entrancy).
  std::function<void(Outcome&)> then;

  bool done() const { return calls > 0; }
  bool leased() const { return calls > 0 && result.ok(); }
  Slot* slot() const { return result.ok() ? result->slot : nullptr; }
  bool fresh() const { return result.ok() && result->fresh; }
  std::string reason() const { return calls > 0 ? ReasonOf(result.status()) : "<pending>"; }
  std::string message() const { return std::string(result.status().message()); }
};

// Owns the Outcomes (stable addresses) and makes the callbacks.
class OutcomeRecorder {
 public:
  // `pool` is checked for invariants inside every callback; may be null.
  void set_pool(const HostPool* pool) { pool_ = pool; }

  Outcome& New(std::string name) {
    outcomes_.emplace_back();
    outcomes_.back().name = std::move(name);
    return outcomes_.back();
  }

  HostPool::LeaseCallback CallbackFor(Outcome& o) {
    return [this, &o](absl::StatusOr<Lease> result) {
      ++o.calls;
      o.result = std::move(result);
      if (pool_ != nullptr) {
        absl::Status s = pool_->CheckInvariants();
        if (!s.ok()) o.invariant_error = std::string(s.message());
      }
      if (o.calls == 1 && o.then) {
        auto then = std::move(o.then);
        o.then = nullptr;
        then(o);
      }
    };
  }

  // Empty when every callback ran exactly once with invariants holding.
  std::string Problems() const {
    std::string out;
    for (const Outcome& o : outcomes_) {
      if (o.calls != 1) absl::StrAppend(&out, o.name, ": callback ran ", o.calls, " times; ");
      if (!o.invariant_error.empty()) {
        absl::StrAppend(&out, o.name, ": invariant broken in callback: ", o.invariant_error, "; ");
      }
    }
    return out;
  }

  const std::deque<Outcome>& all() const { return outcomes_; }

 private:
  const HostPool* pool_ = nullptr;
  std::deque<Outcome> outcomes_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_TESTS_POOL_POOL_TEST_UTIL_H_
