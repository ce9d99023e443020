#include "server/fetch_stream_reactor.h"

#include <string>
#include <utility>

#include "server/call_deadline.h"
#include "server/fetch_stream_session.h"
#include "server/grpc_status.h"

namespace fetchpool {
namespace {

// The gRPC side of a FetchStream call; the logic is FetchStreamSession's.
// Lifetime: gRPC calls OnDone last; it deletes the reactor and the session
// with it.
class FetchStreamReactor final
    : public grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>,
      private FetchStreamPort {
 public:
  FetchStreamReactor(Engine& engine, grpc::CallbackServerContext* context, size_t max_in_flight,
                     CallerScope scope, DrainRegistry* drains)
      : context_(context),
        drains_(drains),
        session_(engine, CallDeadline(*context), this, max_in_flight, std::move(scope)) {
    session_.Start();
    if (drains_ != nullptr) drains_->Add(&session_);
  }

  void OnReadDone(bool ok) override { session_.OnReadDone(ok); }
  void OnWriteDone(bool ok) override { session_.OnWriteDone(ok); }
  void OnCancel() override { session_.OnCancel(); }
  void OnDone() override {
    if (drains_ != nullptr) drains_->Remove(&session_);
    session_.OnDone();
    delete this;
  }

 private:
  void StartRead(v1::FetchRequest* request) override { ServerBidiReactor::StartRead(request); }
  void StartWrite(const v1::FetchResponse* response, bool buffer_hint) override {
    grpc::WriteOptions options;
    if (buffer_hint) options.set_buffer_hint();
    ServerBidiReactor::StartWrite(response, options);
  }
  void Finish(const absl::Status& status) override {
    // SHUTTING_DOWN after a drain carries its reason trailer.
    ServerBidiReactor::Finish(ToGrpcStatus(status, context_));
  }

  grpc::CallbackServerContext* const context_;
  DrainRegistry* const drains_;
  FetchStreamSession session_;
};

class RejectedStream final : public grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse> {
 public:
  explicit RejectedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>* StartFetchStream(
    Engine& engine, grpc::CallbackServerContext* context, size_t max_in_flight,
    CallerScope scope, DrainRegistry* drains) {
  return new FetchStreamReactor(engine, context, max_in_flight, std::move(scope), drains);
}

grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>* RejectFetchStream(
    grpc::Status status) {
  return new RejectedStream(std::move(status));
}

}  // namespace fetchpool
