#include "server/stats_proto.h"

namespace fetchpool {
namespace {

void FillHistogram(const LatencyHistogram& h, v1::Histogram* out) {
  out->mutable_upper_bounds_ms()->Add(LatencyHistogram::kUpperBoundsMs.begin(),
                                      LatencyHistogram::kUpperBoundsMs.end());
  out->mutable_bucket_counts()->Add(h.bucket_counts().begin(), h.bucket_counts().end());
  out->set_count(h.count());
  out->set_sum_ms(h.sum_ms());
  out->set_p50_ms(h.PercentileMs(0.50));
  out->set_p90_ms(h.PercentileMs(0.90));
  out->set_p99_ms(h.PercentileMs(0.99));
}

}  // namespace

void FillHostPoolStats(const HostPoolStatsSnapshot& snapshot, v1::HostPoolStats* out) {
  out->set_host(snapshot.host);
  out->set_protocol(snapshot.protocol);
#define FETCHPOOL_STATS_TO_PROTO(name, type, kind, help) out->set_##name(snapshot.name);
  FETCHPOOL_HOST_POOL_STATS(FETCHPOOL_STATS_TO_PROTO)
#undef FETCHPOOL_STATS_TO_PROTO
  for (const auto& [reason, count] : snapshot.errors_by_reason) {
    (*out->mutable_errors_by_reason())[reason] = count;
  }
#define FETCHPOOL_HISTOGRAM_TO_PROTO(name, metric, help) \
  FillHistogram(snapshot.name, out->mutable_##name());
  FETCHPOOL_HOST_POOL_HISTOGRAMS(FETCHPOOL_HISTOGRAM_TO_PROTO)
#undef FETCHPOOL_HISTOGRAM_TO_PROTO
}

void FillStatsResponse(const Engine::StatsResult& stats, bool pool_details,
                       v1::StatsResponse* out) {
  if (pool_details) {
    out->mutable_pools()->Reserve(static_cast<int>(stats.pools.size()));
    for (const HostPoolStatsSnapshot& pool : stats.pools) FillHostPoolStats(pool, out->add_pools());
  }
  FillHostPoolStats(stats.totals, out->mutable_totals());
  out->mutable_totals()->clear_host();
  out->set_pool_count(stats.pool_count);
}

}  // namespace fetchpool
