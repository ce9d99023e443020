#include "server/caller_quotas.h"

#include "absl/strings/str_cat.h"
#include "common/reason.h"

namespace fetchpool {

absl::Status CallerQuotas::Acquire(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  uint32_t& count = in_flight_[caller];
  if (max_inflight_ != 0 && count >= max_inflight_) {
    if (count == 0) in_flight_.erase(caller);
    return MakeError(Reason::kCallerQuota,
                     absl::StrCat("caller ", caller, " already has ", max_inflight_,
                                  " fetches in flight (--max_inflight_per_caller); wait for "
                                  "answers or raise the cap"));
  }
  ++count;
  return absl::OkStatus();
}

void CallerQuotas::Release(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(caller);
  if (it == in_flight_.end()) return;
  if (--it->second == 0) in_flight_.erase(it);
}

uint32_t CallerQuotas::InFlight(const std::string& caller) const {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(caller);
  return it == in_flight_.end() ? 0 : it->second;
}

uint64_t CallerQuotas::TotalInFlight() const {
  absl::MutexLock lock(&mu_);
  uint64_t total = 0;
  for (const auto& [caller, count] : in_flight_) total += count;
  return total;
}

}  // namespace fetchpool
