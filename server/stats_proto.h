#ifndef FETCHPOOL_SERVER_STATS_PROTO_H_
#define FETCHPOOL_SERVER_STATS_PROTO_H_

#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.pb.h"
#include "pool/pool_stats.h"

namespace fetchpool {

// Expands FETCHPOOL_HOST_POOL_STATS into the proto: a stat without a proto
// field of the same name fails to compile.
void FillHostPoolStats(const HostPoolStatsSnapshot& snapshot, v1::HostPoolStats* out);
// `pool_details` false: the totals and pool_count only, no per-pool rows
// (a caller outside --stats_callers must not learn which hosts others fetch
// from: Stats, WatchStats and /stats.json all apply it here).
void FillStatsResponse(const Engine::StatsResult& stats, bool pool_details,
                       v1::StatsResponse* out);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_STATS_PROTO_H_
