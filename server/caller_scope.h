#ifndef FETCHPOOL_SERVER_CALLER_SCOPE_H_
#define FETCHPOOL_SERVER_CALLER_SCOPE_H_

// No gRPC here: what the call sessions know of their caller.

#include <string>

#include "absl/status/status.h"
#include "server/caller_identity.h"
#include "server/caller_outcomes.h"
#include "server/caller_quotas.h"
#include "server/trace_context.h"

namespace fetchpool {

// The caller of one call (set by the gRPC reactor after authentication) and
// the service-wide books each of its fetches goes through. The pointers
// outlive every call; null turns that part off (unit tests).
struct CallerScope {
  std::string caller = kAnonymousCaller;
  CallerQuotas* quotas = nullptr;
  CallerOutcomes* outcomes = nullptr;
  // --trace_propagation and the call's trace context metadata (read by the
  // reactor): every fetch of the call gets its own span id under it.
  CallerTrace trace;

  // A fetch begins: its quota slot. OK, or CALLER_QUOTA_EXCEEDED.
  absl::Status BeginFetch() const {
    return quotas == nullptr ? absl::OkStatus() : quotas->Acquire(caller);
  }
  // A fetch that BeginFetch admitted has its answer.
  void EndFetch(const std::string& pool, const absl::Status& status,
                const std::string& trace_id = "") const {
    if (quotas != nullptr) quotas->Release(caller);
    Count(pool, status, trace_id);
  }
  // A fetch that never began (refused before the engine) has its answer.
  void Count(const std::string& pool, const absl::Status& status,
             const std::string& trace_id = "") const {
    if (outcomes != nullptr) outcomes->Record(caller, pool, status, trace_id);
  }
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_CALLER_SCOPE_H_
