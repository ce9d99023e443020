#ifndef FETCHPOOL_ENGINE_CALLER_POOL_QUOTA_H_
#define FETCHPOOL_ENGINE_CALLER_POOL_QUOTA_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace fetchpool {

// How many new host pools each caller (FetchSpec::caller) may create per
// minute (--max_new_pools_per_caller_per_minute). Without it, one caller
// asking for 100,000 random hostnames fills max_pools with pools that are
// evicted only after evict_empty_pool_after, locking every other caller
// out of new hosts meanwhile. With the quota, one caller holds at most
// about quota x (evict_empty_pool_after + sweep) / minute empty pools.
//
// A fixed one-minute window per caller: cheap, and its worst case (twice
// the quota across a window edge) is still bounded. Memory is bounded too:
// a caller has an entry only while its window is current; expired entries
// are dropped whenever the table has doubled since the last sweep, so the
// table never holds more than twice the callers active in the last minute.
//
// Thread story: one instance shared by every loop; a mutex, taken only when
// a fetch needs a new pool (rare next to fetches on existing pools).
class CallerPoolQuota {
 public:
  // `per_minute`: 0 means unlimited.
  explicit CallerPoolQuota(uint32_t per_minute) : per_minute_(per_minute) {}
  CallerPoolQuota(const CallerPoolQuota&) = delete;
  CallerPoolQuota& operator=(const CallerPoolQuota&) = delete;

  // Counts one new pool for `caller` at `now`; false (not counted) when the
  // caller has created per_minute pools in its current window.
  bool TryTake(const std::string& caller, absl::Time now);
  // A pool counted by TryTake was not created after all (the table was full).
  void GiveBack(const std::string& caller);

  uint32_t per_minute() const { return per_minute_.load(std::memory_order_relaxed); }
  // A new limit (Engine::Reconfigure), any thread; the current windows keep
  // what they counted.
  void SetPerMinute(uint32_t per_minute) {
    per_minute_.store(per_minute, std::memory_order_relaxed);
  }
  size_t tracked_callers() const;

 private:
  struct Window {
    absl::Time start;
    uint32_t created = 0;
  };
  void DropExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::atomic<uint32_t> per_minute_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Window> windows_ ABSL_GUARDED_BY(mu_);
  size_t size_after_sweep_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_CALLER_POOL_QUOTA_H_
