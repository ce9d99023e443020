#include "engine/caller_pool_quota.h"

namespace fetchpool {
namespace {
constexpr absl::Duration kWindow = absl::Minutes(1);
// Below this many entries the table is not worth sweeping.
constexpr size_t kMinSweepSize = 64;
}  // namespace

bool CallerPoolQuota::TryTake(const std::string& caller, absl::Time now) {
  const uint32_t limit = per_minute();  // one reading, though it may change
  if (limit == 0) return true;
  std::lock_guard<std::mutex> lock(mu_);
  if (windows_.size() >= kMinSweepSize && windows_.size() >= 2 * size_after_sweep_) {
    DropExpiredLocked(now);
  }
  Window& w = windows_[caller];
  if (w.created == 0 || now - w.start >= kWindow) {
    w.start = now;
    w.created = 0;
  }
  if (w.created >= limit) return false;
  ++w.created;
  return true;
}

void CallerPoolQuota::GiveBack(const std::string& caller) {
  if (per_minute() == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = windows_.find(caller);
  if (it != windows_.end() && it->second.created > 0) --it->second.created;
}

size_t CallerPoolQuota::tracked_callers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return windows_.size();
}

void CallerPoolQuota::DropExpiredLocked(absl::Time now) {
  absl::erase_if(windows_, [now](const auto& entry) {
    return entry.second.created == 0 || now - entry.second.start >= kWindow;
  });
  size_after_sweep_ = windows_.size();
}

}  // namespace fetchpool
