#ifndef FETCHPOOL_SERVER_FETCH_SERVICE_H_
#define FETCHPOOL_SERVER_FETCH_SERVICE_H_

#include <grpcpp/support/message_allocator.h>

#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool {

// The FetchPool gRPC service on gRPC's callback API: a handler validates the
// request, hands it to the engine and returns; the engine's loop thread
// finishes the call. No thread ever blocks on a fetch.
class FetchService final : public v1::FetchPool::CallbackService {
 public:
  // `max_stream_inflight`: ServerConfig::max_stream_inflight, per FetchStream.
  FetchService(Engine& engine, size_t max_stream_inflight);

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

 private:
  // Fetch's request and response live on a protobuf arena per call.
  class FetchMessageAllocator final
      : public grpc::MessageAllocator<v1::FetchRequest, v1::FetchResponse> {
   public:
    grpc::MessageHolder<v1::FetchRequest, v1::FetchResponse>* AllocateMessages() override;
  };

  Engine& engine_;
  const size_t max_stream_inflight_;
  FetchMessageAllocator fetch_allocator_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_FETCH_SERVICE_H_
