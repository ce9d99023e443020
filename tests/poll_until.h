#ifndef FETCHPOOL_TESTS_POLL_UNTIL_H_
#define FETCHPOOL_TESTS_POLL_UNTIL_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fetchpool::testing {

// Polls `done` every 5 ms until it holds or `limit` passes; true if it held.
template <typename F>
bool PollUntil(F done, absl::Duration limit = absl::Seconds(5)) {
  const absl::Time give_up = absl::Now() + limit;
  while (true) {
    if (done()) return true;
    if (absl::Now() >= give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_POLL_UNTIL_H_
