#ifndef FETCHPOOL_SERVER_FETCH_STREAM_REACTOR_H_
#define FETCHPOOL_SERVER_FETCH_STREAM_REACTOR_H_

#include <grpcpp/support/server_callback.h>

#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"
#include "server/caller_scope.h"
#include "server/drain_registry.h"

namespace fetchpool {

// Starts a FetchStream call: many fetches over one bidirectional stream,
// answered in completion order and matched by id.
// `scope`: the authenticated caller; each fetch carries it.
// `drains`: the call is registered there while open, so a drain ends it
// (null: never drained).
grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>* StartFetchStream(
    Engine& engine, grpc::CallbackServerContext* context, size_t max_in_flight,
    CallerScope scope = {}, DrainRegistry* drains = nullptr);

// A FetchStream call that only reports an error (e.g. UNAUTHENTICATED).
grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>* RejectFetchStream(
    grpc::Status status);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_FETCH_STREAM_REACTOR_H_
