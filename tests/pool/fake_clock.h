#ifndef FETCHPOOL_TESTS_POOL_FAKE_CLOCK_H_
#define FETCHPOOL_TESTS_POOL_FAKE_CLOCK_H_

#include <mutex>

#include "absl/time/time.h"
#include "pool/clock.h"

namespace fetchpool {

// A Clock that only moves when the test moves it. Thread-safe, so a test
// thread may advance it while an event loop thread reads it.
class FakeClock final : public Clock {
 public:
  // An arbitrary, recognisable start far from the epoch (and from zero).
  static absl::Time DefaultStart() { return absl::FromUnixSeconds(1700000000); }

  explicit FakeClock(absl::Time start = DefaultStart()) : now_(start) {}

  absl::Time Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }

  // Moves time forward (or backward, for a negative `d`: a monotonic clock
  // never does that, so only use it to test robustness).
  void Advance(absl::Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }

  void Set(absl::Time t) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  absl::Time now_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_TESTS_POOL_FAKE_CLOCK_H_
