#include "pool/clock.h"

#include <time.h>

namespace fetchpool {

absl::Time MonotonicClock::Now() const {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::TimeFromTimespec(ts);
}

MonotonicClock& MonotonicClock::Get() {
  static MonotonicClock* clock = new MonotonicClock();
  return *clock;
}

}  // namespace fetchpool
