#include "server/stats_proto.h"

namespace fetchpool {

void FillHostPoolStats(const HostPoolStatsSnapshot& snapshot, v1::HostPoolStats* out) {
  out->set_host(snapshot.host);
#define FETCHPOOL_STATS_TO_PROTO(name, type, kind, help) out->set_##name(snapshot.name);
  FETCHPOOL_HOST_POOL_STATS(FETCHPOOL_STATS_TO_PROTO)
#undef FETCHPOOL_STATS_TO_PROTO
}

void FillStatsResponse(const Engine::StatsResult& stats, v1::StatsResponse* out) {
  out->mutable_pools()->Reserve(static_cast<int>(stats.pools.size()));
  for (const HostPoolStatsSnapshot& pool : stats.pools) FillHostPoolStats(pool, out->add_pools());
  FillHostPoolStats(stats.totals, out->mutable_totals());
  out->mutable_totals()->clear_host();
  out->set_pool_count(stats.pool_count);
}

}  // namespace fetchpool
