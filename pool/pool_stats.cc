#include "pool/pool_stats.h"

#include <algorithm>

namespace fetchpool {

void HostPoolStatsSnapshot::Accumulate(const HostPoolStatsSnapshot& other) {
#define FETCHPOOL_STATS_ACCUMULATE(name, type, kind, help) \
  if (StatKind::kind == StatKind::kGaugeMax) {             \
    name = std::max(name, other.name);                     \
  } else {                                                 \
    name += other.name;                                    \
  }
  FETCHPOOL_HOST_POOL_STATS(FETCHPOOL_STATS_ACCUMULATE)
#undef FETCHPOOL_STATS_ACCUMULATE
  for (const auto& [reason, count] : other.errors_by_reason) errors_by_reason[reason] += count;
  queue_wait.Merge(other.queue_wait);
  fetch_time.Merge(other.fetch_time);
}

}  // namespace fetchpool
