#ifndef FETCHPOOL_SERVER_FETCH_SERVICE_H_
#define FETCHPOOL_SERVER_FETCH_SERVICE_H_

#include <grpcpp/support/message_allocator.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"
#include "server/caller_identity_grpc.h"
#include "server/caller_scope.h"
#include "server/drain_registry.h"
#include "server/watch_stats_reactor.h"

namespace fetchpool {

// The FetchPool gRPC service on gRPC's callback API: a handler validates the
// request, hands it to the engine and returns; the engine's loop thread
// finishes the call. No thread ever blocks on a fetch.
//
// Every handler first authenticates its caller (Authenticator; see there why
// not an AuthMetadataProcessor): a call without valid credentials ends
// UNAUTHENTICATED before anything else happens.
class FetchService final : public v1::FetchPool::CallbackService {
 public:
  // The caller books and limits. The pointers outlive the service; null
  // turns that part off (everyone is anonymous, no quota, no counts).
  struct Options {
    const Authenticator* authenticator = nullptr;
    CallerQuotas* quotas = nullptr;
    CallerOutcomes* outcomes = nullptr;
    uint32_t max_watch_streams = 64;
    // Identities that see per-pool stats; empty: everyone.
    std::vector<std::string> stats_callers;
    // Fetches one FetchStream may have running or unwritten (ServerConfig).
    size_t max_stream_inflight = 256;
    // --trace_propagation (server/trace_context.h).
    TracePropagation trace_propagation = TracePropagation::kForward;
  };

  explicit FetchService(Engine& engine) : FetchService(engine, Options()) {}
  FetchService(Engine& engine, Options options);

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const v1::FetchRequest* request,
                                  v1::FetchResponse* response) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override;
  grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>* FetchStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<v1::StatsResponse>* WatchStats(
      grpc::CallbackServerContext* context, const v1::WatchStatsRequest* request) override;

  // SIGTERM drain: ends every open FetchStream (after answering what it
  // has in flight) and WatchStats call, and every one opened from now on,
  // with UNAVAILABLE / SHUTTING_DOWN. Unary calls are not touched: gRPC's
  // Server::Shutdown waits for them. Any thread.
  void DrainStreams() { drains_.DrainAll(); }

  // Whether `caller` may see per-pool stats (--stats_callers): the rule of
  // Stats and WatchStats, and of the status page for the anonymous caller.
  bool SeesPoolDetails(const std::string& caller) const {
    return stats_callers_.empty() || stats_callers_.contains(caller);
  }

 private:
  // Fetch's request and response live on a protobuf arena per call.
  class FetchMessageAllocator final
      : public grpc::MessageAllocator<v1::FetchRequest, v1::FetchResponse> {
   public:
    grpc::MessageHolder<v1::FetchRequest, v1::FetchResponse>* AllocateMessages() override;
  };

  // The caller of a call, or UNAUTHENTICATED.
  absl::StatusOr<CallerScope> Authenticate(const grpc::CallbackServerContext& context);

  Engine& engine_;
  const Options options_;
  const absl::flat_hash_set<std::string> stats_callers_;
  WatchStreamSlots watch_slots_;
  DrainRegistry drains_;
  FetchMessageAllocator fetch_allocator_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_FETCH_SERVICE_H_
