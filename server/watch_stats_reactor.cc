#include "server/watch_stats_reactor.h"

#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "pool/reason.h"
#include "server/grpc_status.h"
#include "server/request_validation.h"
#include "server/stats_proto.h"

namespace fetchpool {
namespace {

constexpr absl::Duration kDefaultInterval = absl::Seconds(1);
constexpr absl::Duration kMinInterval = absl::Milliseconds(100);
constexpr absl::Duration kMaxInterval = absl::Minutes(1);

// Lifetime: shared. gRPC's use ends at OnDone; a pending engine timer or
// stats callback holds its own reference, and one dropped unrun (engine
// stopped) releases it, so the reactor is freed exactly when nothing can
// reach it any more.
class WatchStatsReactor final : public grpc::ServerWriteReactor<v1::StatsResponse>,
                                public std::enable_shared_from_this<WatchStatsReactor> {
 public:
  WatchStatsReactor(Engine& engine, absl::Duration interval, std::string pool_key)
      : engine_(engine), interval_(interval), pool_key_(std::move(pool_key)) {}

  void Begin(std::shared_ptr<WatchStatsReactor> self) {
    self_ = std::move(self);
    RequestStats();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok || cancelled_) {
      FinishLocked(cancelled_ ? grpc::Status::CANCELLED : grpc::Status::OK);
      return;
    }
    engine_.RunAfter(interval_, [self = shared_from_this()] { self->RequestStats(); });
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    // With a write in flight, OnWriteDone finishes; otherwise a timer or a
    // stats request is pending and would only finish at its next turn.
    if (!writing_) FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override { self_.reset(); }

 private:
  void RequestStats() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
    }
    engine_.GetStats(pool_key_, [self = shared_from_this()](Engine::StatsResult stats) {
      self->Write(stats);
    });
  }

  void Write(const Engine::StatsResult& stats) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    response_.Clear();
    FillStatsResponse(stats, &response_);
    writing_ = true;
    StartWrite(&response_);
  }

  void FinishLocked(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  Engine& engine_;
  const absl::Duration interval_;
  const std::string pool_key_;
  std::shared_ptr<WatchStatsReactor> self_;  // gRPC's reference, until OnDone

  // Protects the state below: writes complete, timers fire and cancels
  // arrive on different threads.
  std::mutex mu_;
  v1::StatsResponse response_;
  bool writing_ = false;
  bool cancelled_ = false;
  bool finished_ = false;
};

absl::StatusOr<absl::Duration> Interval(const v1::WatchStatsRequest& request) {
  if (!request.has_interval()) return kDefaultInterval;
  const absl::Duration d =
      absl::Seconds(request.interval().seconds()) + absl::Nanoseconds(request.interval().nanos());
  if (d < kMinInterval || d > kMaxInterval) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat("interval is ", absl::FormatDuration(d),
                                  "; it must be between 100ms and 1m"));
  }
  return d;
}

// A write reactor that only reports an error.
class RejectedWatch final : public grpc::ServerWriteReactor<v1::StatsResponse> {
 public:
  explicit RejectedWatch(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::StatsResponse>* StartWatchStats(Engine& engine,
                                                             grpc::CallbackServerContext* context,
                                                             const v1::WatchStatsRequest& request) {
  absl::StatusOr<absl::Duration> interval = Interval(request);
  if (!interval.ok()) return new RejectedWatch(ToGrpcStatus(interval.status(), context));
  std::string pool_key;
  if (!request.host().empty()) {
    absl::StatusOr<std::string> key = NormalizePoolKey(request.host());
    if (!key.ok()) return new RejectedWatch(ToGrpcStatus(key.status(), context));
    pool_key = *std::move(key);
  }
  auto reactor = std::make_shared<WatchStatsReactor>(engine, *interval, std::move(pool_key));
  reactor->Begin(reactor);
  return reactor.get();
}

}  // namespace fetchpool
