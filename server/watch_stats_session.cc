#include "server/watch_stats_session.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "server/request_validation.h"
#include "server/stats_proto.h"

namespace fetchpool {
namespace {

constexpr absl::Duration kDefaultInterval = absl::Seconds(1);
constexpr absl::Duration kMinInterval = absl::Milliseconds(100);
constexpr absl::Duration kMaxInterval = absl::Minutes(1);

absl::Status DrainStatus() {
  return MakeError(Reason::kShuttingDown,
                   "fetchpoold is draining; watch another replica");
}

}  // namespace

absl::StatusOr<WatchStatsSession::Params> WatchStatsSession::ParseRequest(
    const v1::WatchStatsRequest& request) {
  Params params;
  params.interval = kDefaultInterval;
  if (request.has_interval()) {
    const absl::Duration d = absl::Seconds(request.interval().seconds()) +
                             absl::Nanoseconds(request.interval().nanos());
    if (d < kMinInterval || d > kMaxInterval) {
      return MakeError(Reason::kInvalidOption,
                       absl::StrCat("interval is ", absl::FormatDuration(d),
                                    "; it must be between 100ms and 1m"));
    }
    params.interval = d;
  }
  if (!request.host().empty()) {
    absl::StatusOr<std::string> key = NormalizePoolKey(request.host());
    if (!key.ok()) return key.status();
    params.pool_key = *std::move(key);
  }
  return params;
}

std::shared_ptr<WatchStatsSession> WatchStatsSession::Create(Engine& engine, Params params,
                                                             WatchStatsPort* port) {
  return std::shared_ptr<WatchStatsSession>(new WatchStatsSession(engine, std::move(params), port));
}

WatchStatsSession::WatchStatsSession(Engine& engine, Params params, WatchStatsPort* port)
    : engine_(engine), params_(std::move(params)), port_(port) {}

void WatchStatsSession::Start() { RequestStats(); }

void WatchStatsSession::OnWriteDone(bool ok) {
  std::unique_lock<std::mutex> lock(mu_);
  writing_ = false;
  if (!ok || cancelled_ || draining_) {
    FinishLocked(lock, cancelled_ ? absl::CancelledError("")
                       : !ok      ? absl::OkStatus()
                                  : DrainStatus());
    return;
  }
  engine_.RunAfter(params_.interval, [self = shared_from_this()] { self->RequestStats(); });
}

void WatchStatsSession::OnCancel() {
  std::unique_lock<std::mutex> lock(mu_);
  cancelled_ = true;
  // With a write in flight, OnWriteDone finishes; otherwise a timer or a
  // stats request is pending and would only finish at its next turn.
  if (!writing_) FinishLocked(lock, absl::CancelledError(""));
}

void WatchStatsSession::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  if (finished_) return;
  draining_ = true;
  // A pending timer or stats request finds the session finished and stops.
  if (!writing_) FinishLocked(lock, DrainStatus());
}

void WatchStatsSession::OnDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!finished_ || writing_) {
    std::fprintf(stderr, "WatchStatsSession::OnDone: finished=%d writing=%d\n", finished_,
                 writing_);
    std::abort();
  }
  port_ = nullptr;
}

void WatchStatsSession::RequestStats() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
  }
  engine_.GetStats(params_.pool_key,
                   [self = shared_from_this()](Engine::StatsResult stats) { self->Write(stats); });
}

void WatchStatsSession::Write(const Engine::StatsResult& stats) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  response_.Clear();
  FillStatsResponse(stats, /*pool_details=*/!params_.totals_only, &response_);
  writing_ = true;
  port_->StartWrite(&response_);
}

void WatchStatsSession::FinishLocked(std::unique_lock<std::mutex>& lock,
                                     const absl::Status& status) {
  if (finished_) return;
  finished_ = true;
  WatchStatsPort* const port = port_;
  lock.unlock();
  port->Finish(status);
}

}  // namespace fetchpool
