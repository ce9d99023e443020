#include "server/caller_outcomes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/reason.h"

namespace fetchpool {

void CallerOutcomes::Record(const std::string& caller, const std::string& pool,
                            const absl::Status& status, const std::string& trace_id,
                            absl::Time now) {
  const std::string reason = status.ok() ? "OK" : ReasonOf(status);
  Fields fields;
  {
    absl::MutexLock lock(&mu_);
    auto it = counts_.find(caller);
    if (it == counts_.end() && counts_.size() >= options_.max_callers) {
      it = counts_.try_emplace(kOtherCaller).first;
    } else if (it == counts_.end()) {
      it = counts_.try_emplace(caller).first;
    }
    ++it->second[reason];
    if (status.ok() || !log_) return;
    if (now - window_start_ >= absl::Seconds(1)) {
      window_start_ = now;
      logged_in_window_ = 0;
    }
    if (logged_in_window_ >= options_.max_failure_logs_per_second) {
      ++suppressed_;
      return;
    }
    ++logged_in_window_;
    fields = {{"caller", caller},
              {"pool", pool},
              {"reason", reason},
              {"message", std::string(status.message())}};
    // The caller's trace id: the failure can be found from the caller's trace.
    if (!trace_id.empty()) fields.emplace_back("trace_id", trace_id);
    if (suppressed_ > 0) {
      fields.emplace_back("suppressed", absl::StrCat(suppressed_));
      suppressed_ = 0;
    }
  }
  log_(fields);  // outside the lock: writing to stderr may block
}

std::vector<CallerOutcomes::Count> CallerOutcomes::Snapshot() const {
  std::vector<Count> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [caller, reasons] : counts_) {
      for (const auto& [reason, count] : reasons) out.push_back({caller, reason, count});
    }
  }
  std::sort(out.begin(), out.end(), [](const Count& a, const Count& b) {
    return std::tie(a.caller, a.reason) < std::tie(b.caller, b.reason);
  });
  return out;
}

uint64_t CallerOutcomes::CountOf(const std::string& caller, const std::string& reason) const {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(caller);
  if (it == counts_.end()) return 0;
  auto r = it->second.find(reason);
  return r == it->second.end() ? 0 : r->second;
}

}  // namespace fetchpool
