#include "client-sdk/cpp/retry_policy.h"

#include <algorithm>

#include "absl/random/distributions.h"
#include "absl/strings/ascii.h"
#include "fetchpool/error_reason.h"

namespace fetchpool {

bool IsReplaySafe(const fetchpool::v1::FetchRequest& request) {
  if (request.idempotent()) return true;
  const std::string method = absl::AsciiStrToUpper(request.method());
  return method.empty() || method == "GET" || method == "HEAD" || method == "OPTIONS";
}

bool IsRetryableFailure(const absl::Status& status, bool replay_safe) {
  if (status.ok()) return false;
  const std::string reason = ErrorReason(status);
  if (reason == "SHUTTING_DOWN" || reason == "QUEUE_FULL") return true;
  return reason.empty() && status.code() == absl::StatusCode::kUnavailable && replay_safe;
}

absl::Duration BackoffCap(int retry) {
  const absl::Duration cap = absl::Seconds(2);
  if (retry < 1) retry = 1;
  if (retry > 4) return cap;  // 250 ms * 2^4 is past the cap already
  return std::min(absl::Milliseconds(250) * (1 << (retry - 1)), cap);
}

absl::Duration Backoff(int retry, absl::BitGenRef random) {
  const absl::Duration cap = BackoffCap(retry);
  const int64_t high = absl::ToInt64Microseconds(cap);
  return absl::Microseconds(absl::Uniform<int64_t>(absl::IntervalClosed, random, high / 2, high));
}

void RetryBudget::OnSuccess() {
  absl::MutexLock lock(&mu_);
  tokens_ = std::min(max_tokens_, tokens_ + token_ratio_);
}

bool RetryBudget::OnRetryableFailure() {
  absl::MutexLock lock(&mu_);
  tokens_ = std::max(0.0, tokens_ - 1);
  return tokens_ > max_tokens_ / 2;
}

double RetryBudget::tokens() const {
  absl::MutexLock lock(&mu_);
  return tokens_;
}

bool ShouldRetry(const absl::Status& status, bool replay_safe, int attempt, absl::Duration sleep,
                 absl::Duration time_left, bool budget_allows) {
  if (!IsRetryableFailure(status, replay_safe)) return false;
  if (attempt >= kMaxAttempts) return false;
  if (!budget_allows) return false;
  // A retry whose sleep would end past the deadline is not made.
  return sleep < time_left;
}

}  // namespace fetchpool
