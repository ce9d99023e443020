#ifndef FETCHPOOL_BENCH_SOAK_CANCELLABLE_H_
#define FETCHPOOL_BENCH_SOAK_CANCELLABLE_H_

#include <functional>
#include <memory>
#include <queue>
#include <vector>

#include "absl/time/time.h"

namespace fetchpool::soak {

// ---- cancels ---------------------------------------------------------------------

// Calls the scheduler cancels at a set time. Holding a shared_ptr keeps the
// ClientContext alive; TryCancel after the call finished does nothing.
class Cancellable {
 public:
  virtual ~Cancellable() = default;
  virtual void Cancel() = 0;
};
struct PendingCancel {
  absl::Time at;
  std::shared_ptr<Cancellable> call;
  bool operator>(const PendingCancel& o) const { return at > o.at; }
};
// Earliest first; the scheduler's only.
using CancelQueue = std::priority_queue<PendingCancel, std::vector<PendingCancel>, std::greater<PendingCancel>>;

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_CANCELLABLE_H_
