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
  if (protocol.empty()) {
    protocol = other.protocol;
  } else if (!other.protocol.empty() && other.protocol != protocol) {
    protocol = "mixed";
  }
  for (const auto& [reason, count] : other.errors_by_reason) errors_by_reason[reason] += count;
#define FETCHPOOL_HISTOGRAM_MERGE(name, metric, help) name.Merge(other.name);
  FETCHPOOL_HOST_POOL_HISTOGRAMS(FETCHPOOL_HISTOGRAM_MERGE)
#undef FETCHPOOL_HISTOGRAM_MERGE
}

}  // namespace fetchpool
