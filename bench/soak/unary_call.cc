#include "bench/soak/unary_call.h"

#include "absl/strings/str_cat.h"
#include "bench/soak/deadlines.h"
#include "bench/soak/invariants.h"
#include "bench/soak/ledger.h"

namespace fetchpool::soak {

std::atomic<int64_t> unary_in_flight{0};

void UnaryCall::Start(fetchpool::v1::FetchPool::Stub* stub) {
  self_ = shared_from_this();
  ctx_.set_deadline(DeadlineIn(p_.deadline));
  ledger->Started(kUnary);
  ++unary_in_flight;
  stub->async()->Fetch(&ctx_, &p_.request, &response_, this);
  StartCall();
}

void UnaryCall::Cancel() {
  if (done_.load()) return;
  cancelled_ = true;
  ledger->CancelRequested(kUnary);
  ctx_.TryCancel();
}

void UnaryCall::OnDone(const grpc::Status& status) {
  if (done_.exchange(true)) {
    ledger->Violation("two answers for one call", p_.request.id());
    return;
  }
  const Outcome outcome = OutcomeOf(status, ctx_, absl::StrCat("Fetch ", p_.request.id(), " ", route_.name));
  JudgeFetch(kUnary, route_, p_, status.ok() ? &response_ : nullptr, outcome, cancelled_.load());
  --unary_in_flight;
  std::shared_ptr<UnaryCall> keep = std::move(self_);  // may be the last reference
}

}  // namespace fetchpool::soak
