#include "server/fetch_service.h"

#include <atomic>
#include <chrono>

#include "server/call_deadline.h"
#include "server/fetch_response.h"
#include "server/fetch_stream_reactor.h"
#include "server/watch_stats_reactor.h"
#include "server/grpc_status.h"
#include "server/request_validation.h"
#include "server/stats_proto.h"

namespace fetchpool {
namespace {

// One Fetch call. Lives until gRPC calls OnDone after Finish.
class FetchReactor final : public grpc::ServerUnaryReactor {
 public:
  FetchReactor(Engine& engine, grpc::CallbackServerContext* context,
               const v1::FetchRequest& request, v1::FetchResponse* response)
      : engine_(engine), context_(context), response_(response) {
    absl::StatusOr<FetchSpec> spec = ValidateFetchRequest(request);
    if (!spec.ok()) {
      Finish(ToGrpcStatus(spec.status(), context_));
      return;
    }
    spec->deadline = CallDeadline(*context);
    const Engine::FetchId id = engine_.Fetch(
        *std::move(spec), [this](absl::StatusOr<FetchResult> result) { Complete(std::move(result)); });
    fetch_id_.store(id);
    // OnCancel may have run before the id was known.
    if (cancel_requested_.load()) engine_.Cancel(id);
  }

  void OnCancel() override {
    cancel_requested_.store(true);
    const Engine::FetchId id = fetch_id_.load();
    if (id != 0) engine_.Cancel(id);
  }

  void OnDone() override { delete this; }

 private:
  // Runs on the engine's loop thread; after Finish the reactor may be gone.
  void Complete(absl::StatusOr<FetchResult> result) {
    if (!result.ok()) {
      Finish(ToGrpcStatus(result.status(), context_));
      return;
    }
    FillFetchResponse(*std::move(result), response_);
    Finish(grpc::Status::OK);
  }

  Engine& engine_;
  grpc::CallbackServerContext* context_;
  v1::FetchResponse* response_;
  std::atomic<Engine::FetchId> fetch_id_{0};
  std::atomic<bool> cancel_requested_{false};
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
