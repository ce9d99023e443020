#ifndef FETCHPOOL_BENCH_SOAK_DEADLINES_H_
#define FETCHPOOL_BENCH_SOAK_DEADLINES_H_

#include <chrono>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fetchpool::soak {

// A call with a "safety" deadline is expected to be answered by fetchpoold
// long before it: ending on the client's own deadline means a hang.
constexpr absl::Duration kSafetyDeadline = absl::Seconds(15);

// A gRPC deadline `d` from now.
inline std::chrono::system_clock::time_point DeadlineIn(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoNanoseconds(d);
}

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_DEADLINES_H_
