#ifndef FETCHPOOL_SERVER_CALLER_QUOTAS_H_
#define FETCHPOOL_SERVER_CALLER_QUOTAS_H_

// No gRPC here (part of fetchpool_server_core, used by the call sessions).

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace fetchpool {

// In-flight fetches per caller identity (--max_inflight_per_caller), across
// Fetch and FetchStream: a fetch holds one slot from its start until its
// answer. Over the cap a fetch fails at once, before the engine sees it, so
// one caller at its cap leaves every other caller's fetches untouched.
// Thread-safe: gRPC threads acquire, engine loop threads release.
class CallerQuotas {
 public:
  // `max_inflight_per_caller`: 0 means unlimited.
  explicit CallerQuotas(uint32_t max_inflight_per_caller)
      : max_inflight_(max_inflight_per_caller) {}
  CallerQuotas(const CallerQuotas&) = delete;
  CallerQuotas& operator=(const CallerQuotas&) = delete;

  // OK and one slot taken, or RESOURCE_EXHAUSTED / CALLER_QUOTA_EXCEEDED.
  absl::Status Acquire(const std::string& caller);
  // Gives back a slot Acquire took.
  void Release(const std::string& caller);
  uint32_t InFlight(const std::string& caller) const;
  // Over every caller: the fetches a drain waits for.
  uint64_t TotalInFlight() const;

 private:
  const uint32_t max_inflight_;
  mutable absl::Mutex mu_;
  // Callers with a fetch in flight; an entry goes when its count reaches 0.
  absl::flat_hash_map<std::string, uint32_t> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_CALLER_QUOTAS_H_
