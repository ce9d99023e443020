#ifndef FETCHPOOL_SERVER_WATCH_STATS_REACTOR_H_
#define FETCHPOOL_SERVER_WATCH_STATS_REACTOR_H_

#include <grpcpp/support/server_callback.h>

#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool {

// Starts a WatchStats call: a StatsResponse now and then every interval
// until the caller cancels or the server drains.
grpc::ServerWriteReactor<v1::StatsResponse>* StartWatchStats(Engine& engine,
                                                             grpc::CallbackServerContext* context,
                                                             const v1::WatchStatsRequest& request);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_WATCH_STATS_REACTOR_H_
