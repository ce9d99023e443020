#include "bench/soak/stats_calls.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/soak/deadlines.h"
#include "bench/soak/invariants.h"
#include "bench/soak/ledger.h"
#include "bench/soak/routes.h"

namespace fetchpool::soak {

void StatsCall::Start(fetchpool::v1::FetchPool::Stub* stub) {
  self_ = shared_from_this();
  ctx_.set_deadline(DeadlineIn(absl::Seconds(5)));
  ledger->Started(kStats);
  stub->async()->Stats(&ctx_, &request_, &response_, this);
  StartCall();
}

void StatsCall::Cancel() {
  if (done_.load()) return;
  cancelled_ = true;
  ledger->CancelRequested(kStats);
  ctx_.TryCancel();
}

void StatsCall::OnDone(const grpc::Status& status) {
  done_ = true;
  const Outcome o = OutcomeOf(status, ctx_, "Stats");
  if (status.ok()) {
    CheckStats(response_, "Stats load");
    if (!request_.host().empty() && (response_.pools_size() > 1 ||
                                     (response_.pools_size() == 1 && response_.pools(0).host() != request_.host()))) {
      ledger->Violation("Stats for one host answered other pools", request_.host());
    }
  } else if (status.error_code() == grpc::CANCELLED && !cancelled_) {
    ledger->Violation("CANCELLED without a caller cancel", "Stats");
  } else if (status.error_code() == grpc::DEADLINE_EXCEEDED) {
    ledger->Violation("no answer before the call's safety deadline (hang)", "Stats (5 s)");
  } else if (status.error_code() != grpc::CANCELLED) {
    ledger->Violation("Stats failed", absl::StrCat(o.label, " ", status.error_message()));
  }
  ledger->Answered(kStats, o.label);
  std::shared_ptr<StatsCall> keep = std::move(self_);
}

WatchCall::WatchCall(absl::Duration interval, absl::Duration lifetime, bool by_deadline, std::string host)
    : interval_(interval), lifetime_(lifetime), by_deadline_(by_deadline) {
  request_.set_host(std::move(host));
  SetDuration(request_.mutable_interval(), interval);
}

void WatchCall::Start(fetchpool::v1::FetchPool::Stub* stub) {
  self_ = shared_from_this();
  started_at_ = absl::Now();
  ctx_.set_deadline(DeadlineIn(by_deadline_ ? lifetime_ : lifetime_ + kSafetyDeadline));
  ledger->Started(kWatch);
  stub->async()->WatchStats(&ctx_, &request_, this);
  StartRead(&response_);
  StartCall();
}

void WatchCall::Cancel() {
  cancelled_ = true;
  ledger->CancelRequested(kWatch);
  ctx_.TryCancel();
}

void WatchCall::OnReadDone(bool ok) {
  if (!ok) return;
  ++messages_;
  CheckStats(response_, "WatchStats");
  response_.Clear();
  StartRead(&response_);
}

void WatchCall::OnDone(const grpc::Status& status) {
  const Outcome o = OutcomeOf(status, ctx_, "WatchStats");
  const absl::Duration lived = absl::Now() - started_at_;
  const std::string what = absl::StrCat("WatchStats every ", absl::FormatDuration(interval_), ", lived ",
                                        absl::FormatDuration(absl::Trunc(lived, absl::Milliseconds(1))),
                                        ", ", messages_, " messages");
  if (status.error_code() == grpc::CANCELLED && !cancelled_) {
    ledger->Violation("CANCELLED without a caller cancel", what);
  } else if (status.error_code() == grpc::DEADLINE_EXCEEDED && !by_deadline_) {
    ledger->Violation("WatchStats hit its safety deadline (hang)", what);
  } else if (status.error_code() != grpc::CANCELLED && status.error_code() != grpc::DEADLINE_EXCEEDED) {
    ledger->Violation("WatchStats ended other than by the caller", absl::StrCat(what, ": ", o.label));
  }
  // Liveness: a snapshot at once, then one per interval.
  const int64_t want = static_cast<int64_t>(lived / (interval_ + absl::Milliseconds(400)));
  if (lived > absl::Milliseconds(1500) && messages_ < std::max<int64_t>(1, want / 2)) {
    ledger->Violation("WatchStats sent too few snapshots", what);
  }
  ledger->Answered(kWatch, o.label);
  done_ = true;
  std::shared_ptr<WatchCall> keep = std::move(self_);
}

bool SyncStats(fetchpool::v1::FetchPool::Stub* stub, fetchpool::v1::StatsResponse* r, absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeout));
  fetchpool::v1::StatsRequest req;
  const grpc::Status s = stub->Stats(&ctx, req, r);
  return s.ok();
}

}  // namespace fetchpool::soak
