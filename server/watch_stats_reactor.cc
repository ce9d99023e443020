#include "server/watch_stats_reactor.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "server/grpc_status.h"
#include "server/watch_stats_session.h"

namespace fetchpool {
namespace {

// The gRPC side of a WatchStats call; the logic is WatchStatsSession's.
// Lifetime: gRPC calls OnDone last; it deletes the reactor, which drops the
// call's reference to the session (see WatchStatsSession).
class WatchStatsReactor final : public grpc::ServerWriteReactor<v1::StatsResponse>,
                                private WatchStatsPort {
 public:
  // `slots`: one is held for this call; released in OnDone.
  WatchStatsReactor(Engine& engine, grpc::CallbackServerContext* context,
                    WatchStatsSession::Params params, WatchStreamSlots* slots,
                    DrainRegistry* drains)
      : context_(context),
        session_(WatchStatsSession::Create(engine, std::move(params), this)),
        slots_(slots),
        drains_(drains) {
    session_->Start();
    if (drains_ != nullptr) drains_->Add(session_.get());
  }

  void OnWriteDone(bool ok) override { session_->OnWriteDone(ok); }
  void OnCancel() override { session_->OnCancel(); }
  void OnDone() override {
    if (drains_ != nullptr) drains_->Remove(session_.get());
    session_->OnDone();
    slots_->Release();
    delete this;
  }

 private:
  void StartWrite(const v1::StatsResponse* response) override {
    ServerWriteReactor::StartWrite(response);
  }
  void Finish(const absl::Status& status) override {
    // SHUTTING_DOWN after a drain carries its reason trailer.
    ServerWriteReactor::Finish(ToGrpcStatus(status, context_));
  }

  grpc::CallbackServerContext* const context_;
  const std::shared_ptr<WatchStatsSession> session_;
  WatchStreamSlots* const slots_;
  DrainRegistry* const drains_;
};

// A write reactor that only reports an error.
class RejectedWatch final : public grpc::ServerWriteReactor<v1::StatsResponse> {
 public:
  explicit RejectedWatch(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::StatsResponse>* StartWatchStats(Engine& engine,
                                                             grpc::CallbackServerContext* context,
                                                             const v1::WatchStatsRequest& request,
                                                             WatchStreamSlots* slots,
                                                             bool pool_details,
                                                             DrainRegistry* drains) {
  absl::StatusOr<WatchStatsSession::Params> params = WatchStatsSession::ParseRequest(request);
  if (!params.ok()) return new RejectedWatch(ToGrpcStatus(params.status(), context));
  if (!pool_details) {
    if (!params->pool_key.empty()) {
      return new RejectedWatch(ToGrpcStatus(
          MakeError(Reason::kStatsDenied,
                    "per-pool stats are only for the callers in --stats_callers; ask without "
                    "a host for the totals"),
          context));
    }
    params->totals_only = true;
  }
  if (!slots->TryAcquire()) {
    return new RejectedWatch(ToGrpcStatus(
        MakeError(Reason::kTooManyStreams,
                  absl::StrCat(slots->max(), " WatchStats streams are open already "
                               "(--max_watch_streams); close one or poll Stats instead")),
        context));
  }
  return new WatchStatsReactor(engine, context, *std::move(params), slots, drains);
}

grpc::ServerWriteReactor<v1::StatsResponse>* RejectWatchStats(grpc::Status status) {
  return new RejectedWatch(std::move(status));
}

}  // namespace fetchpool
