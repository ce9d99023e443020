#ifndef FETCHPOOL_SERVER_STATS_PROTO_H_
#define FETCHPOOL_SERVER_STATS_PROTO_H_

#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.pb.h"
#include "pool/pool_stats.h"

namespace fetchpool {

// Expands FETCHPOOL_HOST_POOL_STATS into the proto: a stat without a proto
// field of the same name fails to compile.
void FillHostPoolStats(const HostPoolStatsSnapshot& snapshot, v1::HostPoolStats* out);
void FillStatsResponse(const Engine::StatsResult& stats, v1::StatsResponse* out);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_STATS_PROTO_H_
