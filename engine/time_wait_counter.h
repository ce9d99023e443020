#ifndef FETCHPOOL_ENGINE_TIME_WAIT_COUNTER_H_
#define FETCHPOOL_ENGINE_TIME_WAIT_COUNTER_H_

#include <cstdint>
#include <string>

#include <memory>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fetchpool {

// The kernel's count of this machine's TCP sockets in TIME_WAIT, by remote
// address ("127.0.0.1:8080", "[::1]:443"), read with one sock_diag netlink
// dump (what `ss -tan state time-wait` shows). Every TIME_WAIT socket on
// the machine is counted, whoever owned it: the per-pool figure is an upper
// bound for fetchpool's share, exact when fetchpool is the only client of
// that origin here (the usual case in a pod).
using TimeWaitCounts = absl::flat_hash_map<std::string, uint32_t>;
absl::StatusOr<TimeWaitCounts> CountTimeWaitByRemote();

// The last count, shared by every event loop and taken again at most once
// per `max_age`: the dump walks the kernel's whole TCP table (a fifth of a
// Stats call with 10,000 pools), and a TIME_WAIT socket lasts 60 s.
// Thread-safe.
class TimeWaitCache {
 public:
  explicit TimeWaitCache(absl::Duration max_age) : max_age_(max_age) {}
  // The counts, no older than max_age at `now`; null when the kernel
  // would not say (then the kernel column stays 0).
  std::shared_ptr<const TimeWaitCounts> Get(absl::Time now);

 private:
  const absl::Duration max_age_;
  // std::mutex rather than absl::Mutex for ThreadSanitizer (see EventLoop::post_mu_).
  std::mutex mu_;
  std::shared_ptr<const TimeWaitCounts> counts_ ABSL_GUARDED_BY(mu_);
  absl::Time counted_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_TIME_WAIT_COUNTER_H_
