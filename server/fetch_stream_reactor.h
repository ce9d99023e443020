#ifndef FETCHPOOL_SERVER_FETCH_STREAM_REACTOR_H_
#define FETCHPOOL_SERVER_FETCH_STREAM_REACTOR_H_

#include <grpcpp/support/server_callback.h>

#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool {

// Starts a FetchStream call: many fetches over one bidirectional stream,
// answered in completion order and matched by id.
grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>* StartFetchStream(
    Engine& engine, grpc::CallbackServerContext* context, size_t max_in_flight);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_FETCH_STREAM_REACTOR_H_
