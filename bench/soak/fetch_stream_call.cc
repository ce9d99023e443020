#include "bench/soak/fetch_stream_call.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/soak/deadlines.h"
#include "bench/soak/invariants.h"
#include "bench/soak/ledger.h"

namespace fetchpool::soak {

using fetchpool::v1::FetchResponse;

void StreamCall::Start(fetchpool::v1::FetchPool::Stub* stub) {
  self_ = shared_from_this();
  started_at_ = absl::Now();
  ends_at_ = started_at_ + lifetime_;
  ctx_.set_deadline(DeadlineIn(lifetime_ + kSafetyDeadline));
  ledger->Started(kStream);
  stub->async()->FetchStream(&ctx_, this);
  StartRead(&read_);
  AddHold();  // sends come from the scheduler, outside the reactions
  StartCall();
}

bool StreamCall::Send(std::mt19937_64& rng, const Route& route) {
  Prepared p;
  p.request.set_id(absl::StrCat("s", serial_, "-", next_id.fetch_add(1)));
  route.make(rng, true, &p);
  bool write = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closing_ || broken_ || static_cast<int>(outstanding_.size()) >= window_) return false;
    queue_.push_back(p.request);
    std::string id = p.request.id();
    outstanding_.emplace(std::move(id), std::make_pair(&route, std::move(p)));
    ledger->Started(kStreamFetch);
    write = NextWriteLocked();
  }
  if (write) StartWrite(&current_);
  return true;
}

void StreamCall::Close() {
  bool done = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    closing_ = true;
    done = CloseLocked();
  }
  if (done) StartWritesDone();
  RemoveHold();
}

void StreamCall::Cancel() {
  {
    std::lock_guard<std::mutex> l(mu_);
    closing_ = true;
    cancelled_ = true;
  }
  ledger->CancelRequested(kStream);
  ctx_.TryCancel();
  RemoveHold();
}

void StreamCall::OnWriteDone(bool ok) {
  bool write = false, done = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    writing_ = false;
    if (!ok) broken_ = true;
    write = !broken_ && NextWriteLocked();
    done = !write && CloseLocked();
  }
  if (write) StartWrite(&current_);
  if (done) StartWritesDone();
}

void StreamCall::OnReadDone(bool ok) {
  if (!ok) return;  // the call is over; OnDone follows
  FetchResponse r = std::move(read_);
  read_.Clear();
  StartRead(&read_);
  const Route* route = nullptr;
  Prepared p;
  bool cancelled;
  {
    std::lock_guard<std::mutex> l(mu_);
    cancelled = cancelled_;
    auto it = outstanding_.find(r.id());
    if (it != outstanding_.end()) {
      route = it->second.first;
      p = std::move(it->second.second);
      outstanding_.erase(it);
    }
  }
  if (route == nullptr) {
    ledger->Violation("stream answer for an unknown or already answered id",
                      absl::StrCat("stream ", serial_, ": id \"", r.id(), "\""));
    return;
  }
  if (r.has_error()) {
    Outcome o;
    o.reason = r.error().reason();
    o.label = o.reason.empty() ? absl::StrCat("code ", r.error().code(), " (no reason)") : o.reason;
    if (o.reason.empty()) ledger->Violation("stream fetch error without a reason", r.id());
    JudgeFetch(kStreamFetch, *route, p, nullptr, o, cancelled);
  } else {
    JudgeFetch(kStreamFetch, *route, p, &r, Outcome{"OK", ""}, cancelled);
  }
}

void StreamCall::OnDone(const grpc::Status& status) {
  std::vector<std::pair<const Route*, Prepared>> left;
  bool cancelled;
  {
    std::lock_guard<std::mutex> l(mu_);
    cancelled = cancelled_;
    for (auto& [id, v] : outstanding_) left.push_back(std::move(v));
    outstanding_.clear();
  }
  const std::string what = absl::StrCat("FetchStream ", serial_);
  const Outcome outcome = OutcomeOf(status, ctx_, what);
  if (status.ok() && !left.empty()) {
    ledger->Violation("stream ended OK with fetches unanswered", absl::StrCat(what, ": ", left.size()));
  }
  if (!status.ok()) {
    if (status.error_code() == grpc::DEADLINE_EXCEEDED) {
      ledger->Violation("FetchStream hit its safety deadline (hang)", what);
    } else if (status.error_code() == grpc::CANCELLED && !cancelled) {
      ledger->Violation("CANCELLED without a caller cancel", what);
    } else if (!cancelled) {
      ledger->Violation("FetchStream failed", absl::StrCat(what, ": ", outcome.label, " ", status.error_message()));
    }
  }
  // Fetches still open when the stream ended are answered by its end.
  for (auto& [route, p] : left) {
    const std::string label = absl::StrCat("stream ended: ", outcome.label);
    ledger->Answered(kStreamFetch, label);
    ledger->Route(route->name, label, false);
  }
  ledger->Answered(kStream, outcome.label);
  std::shared_ptr<StreamCall> keep = std::move(self_);
}

bool StreamCall::NextWriteLocked() {
  if (writing_ || queue_.empty()) return false;
  current_ = std::move(queue_.front());
  queue_.pop_front();
  writing_ = true;
  return true;
}

bool StreamCall::CloseLocked() {
  if (!closing_ || cancelled_ || broken_ || writing_ || !queue_.empty() || writes_done_) return false;
  writes_done_ = true;
  return true;
}

}  // namespace fetchpool::soak
