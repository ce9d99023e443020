#include "server/fetch_service.h"

#include "server/call_deadline.h"
#include "server/fetch_session.h"
#include "server/fetch_stream_reactor.h"
#include "server/grpc_status.h"
#include "server/request_validation.h"
#include "server/stats_proto.h"
#include "server/watch_stats_reactor.h"

namespace fetchpool {
namespace {

// The gRPC side of one Fetch call; the logic is FetchSession's. Lifetime:
// gRPC calls OnDone last; it deletes the reactor and the session with it.
class FetchReactor final : public grpc::ServerUnaryReactor, private FetchCallPort {
 public:
  FetchReactor(Engine& engine, grpc::CallbackServerContext* context,
               const v1::FetchRequest& request, v1::FetchResponse* response)
      : context_(context), session_(engine, this, response) {
    session_.Start(request, CallDeadline(*context));
  }

  void OnCancel() override { session_.OnCancel(); }
  void OnDone() override { delete this; }

 private:
  // From the constructor or the engine's loop thread.
  void Finish(const absl::Status& status) override {
    ServerUnaryReactor::Finish(ToGrpcStatus(status, context_));
  }

  grpc::CallbackServerContext* const context_;
  FetchSession session_;
};

}  // namespace

grpc::ServerUnaryReactor* FetchService::Fetch(grpc::CallbackServerContext* context,
                                              const v1::FetchRequest* request,
                                              v1::FetchResponse* response) {
  return new FetchReactor(engine_, context, *request, response);
}

grpc::ServerUnaryReactor* FetchService::Stats(grpc::CallbackServerContext* context,
                                              const v1::StatsRequest* request,
                                              v1::StatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::string pool_key;
  if (!request->host().empty()) {
    absl::StatusOr<std::string> key = NormalizePoolKey(request->host());
    if (!key.ok()) {
      reactor->Finish(ToGrpcStatus(key.status(), context));
      return reactor;
    }
    pool_key = *std::move(key);
  }
  engine_.GetStats(std::move(pool_key), [reactor, response](Engine::StatsResult stats) {
    FillStatsResponse(stats, response);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>* FetchService::FetchStream(
    grpc::CallbackServerContext* context) {
  return StartFetchStream(engine_, context);
}

grpc::ServerWriteReactor<v1::StatsResponse>* FetchService::WatchStats(
    grpc::CallbackServerContext* context, const v1::WatchStatsRequest* request) {
  return StartWatchStats(engine_, context, *request);
}

}  // namespace fetchpool
