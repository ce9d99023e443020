#ifndef FETCHPOOL_POOL_CLOCK_H_
#define FETCHPOOL_POOL_CLOCK_H_

#include "absl/time/time.h"

namespace fetchpool {

// Time source for the pool and engine. Injected so tests replay races on a
// fake clock instead of sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// CLOCK_MONOTONIC expressed as an absl::Time, so wall-clock steps (NTP) never
// expire a waiter early or keep an idle connection forever.
class MonotonicClock final : public Clock {
 public:
  absl::Time Now() const override;
  static MonotonicClock& Get();
};

}  // namespace fetchpool

#endif  // FETCHPOOL_POOL_CLOCK_H_
