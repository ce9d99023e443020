#ifndef FETCHPOOL_POOL_POOL_STATS_H_
#define FETCHPOOL_POOL_POOL_STATS_H_

#include <cstdint>
#include <map>
#include <string>

#include "pool/histogram.h"

#include "pool/pool_stats_fields.h"

namespace fetchpool {

enum class StatKind { kGauge, kGaugeMax, kCounter };

// One pool's statistics at one moment. Fields come from
// FETCHPOOL_HOST_POOL_STATS; gauges are filled by HostPool::Snapshot, counters
// are kept live by the pool and the engine.
struct HostPoolStatsSnapshot {
  std::string host;
  // What the latest connection negotiated ("http/1.1", "h2"); in totals,
  // the pools' common protocol or "mixed".
  std::string protocol;
#define FETCHPOOL_STATS_MEMBER(name, type, kind, help) type name = 0;
  FETCHPOOL_HOST_POOL_STATS(FETCHPOOL_STATS_MEMBER)
#undef FETCHPOOL_STATS_MEMBER
  // Failures by stable reason (common/reason.h).
  std::map<std::string, uint64_t> errors_by_reason;
#define FETCHPOOL_HISTOGRAM_MEMBER(name, metric, help) LatencyHistogram name;
  FETCHPOOL_HOST_POOL_HISTOGRAMS(FETCHPOOL_HISTOGRAM_MEMBER)
#undef FETCHPOOL_HISTOGRAM_MEMBER

  // Adds `other` into this one as a total: counters and kGauge fields add up,
  // kGaugeMax fields take the larger value.
  void Accumulate(const HostPoolStatsSnapshot& other);
};

}  // namespace fetchpool

#endif  // FETCHPOOL_POOL_POOL_STATS_H_
