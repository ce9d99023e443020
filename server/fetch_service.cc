#include "server/fetch_service.h"

#include <google/protobuf/arena.h>

#include "server/call_deadline.h"
#include "server/fetch_response.h"
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
    // gRPC hands the request over as const, but it is ours: ArenaFetchMessages
    // created it (not const) and gRPC does not read it after deserializing
    // it. Taking its body saves a copy of up to 64 MiB.
    session_.Start(const_cast<v1::FetchRequest*>(&request), CallDeadline(*context));
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

// One Fetch call's request and response on one protobuf arena whose first
// block is part of the holder: one allocation for both messages and most of
// what they hold (the response's headers, timings and strings), released with
// the call after OnDone. The strings moved in from the FetchResult (the body
// among them) keep their own buffers: only their small string objects are in
// the arena. Saves ~25 malloc/free pairs per call (-3.8% Ir per fetch).
class ArenaFetchMessages final : public grpc::MessageHolder<v1::FetchRequest, v1::FetchResponse> {
 public:
  ArenaFetchMessages() : arena_(ArenaOptionsWithFirstBlock(initial_block_, kInitialBlockBytes)) {
    set_request(google::protobuf::Arena::CreateMessage<v1::FetchRequest>(&arena_));
    set_response(google::protobuf::Arena::CreateMessage<v1::FetchResponse>(&arena_));
  }
  void Release() override { delete this; }

 private:
  static constexpr size_t kInitialBlockBytes = 2048;

  alignas(8) char initial_block_[kInitialBlockBytes];
  google::protobuf::Arena arena_;
};

}  // namespace

FetchService::FetchService(Engine& engine, size_t max_stream_inflight)
    : engine_(engine), max_stream_inflight_(max_stream_inflight) {
  SetMessageAllocatorFor_Fetch(&fetch_allocator_);
}

grpc::MessageHolder<v1::FetchRequest, v1::FetchResponse>*
FetchService::FetchMessageAllocator::AllocateMessages() {
  return new ArenaFetchMessages();
}

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
  return StartFetchStream(engine_, context, max_stream_inflight_);
}

grpc::ServerWriteReactor<v1::StatsResponse>* FetchService::WatchStats(
    grpc::CallbackServerContext* context, const v1::WatchStatsRequest* request) {
  return StartWatchStats(engine_, context, *request);
}

}  // namespace fetchpool
