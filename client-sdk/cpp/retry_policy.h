#ifndef FETCHPOOL_CLIENT_SDK_CPP_RETRY_POLICY_H_
#define FETCHPOOL_CLIENT_SDK_CPP_RETRY_POLICY_H_

// When a failed Fetch is sent again (client-sdk/README.md, "Retries, safe by
// construction"): which failures, how many attempts, how long to wait, and
// the client's retry budget. Pure, so every rule is unit-tested alone; the
// client only sleeps and calls.

#include "absl/base/thread_annotations.h"
#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool {

inline constexpr int kMaxAttempts = 5;  // the first and 4 retries

// GET, HEAD, OPTIONS (an empty method is GET), or `idempotent: true`.
bool IsReplaySafe(const fetchpool::v1::FetchRequest& request);

// The failures of the contract's table: SHUTTING_DOWN and QUEUE_FULL for any
// request (no byte reached the origin), UNAVAILABLE without a reason (the
// transport broke) only for a replay-safe one.
bool IsRetryableFailure(const absl::Status& status, bool replay_safe);

// The upper bound b of the sleep before retry n (1, 2, ...):
// min(250 ms * 2^(n-1), 2 s).
absl::Duration BackoffCap(int retry);
// A uniformly random sleep in [b/2, b].
absl::Duration Backoff(int retry, absl::BitGenRef random);

// gRPC's retry throttling (gRFC A6): 10 tokens, full at the start; a
// retryable failure takes 1, a success gives back 0.1; a retry is made only
// while more than half the tokens are left. Thread-safe.
class RetryBudget {
 public:
  explicit RetryBudget(double max_tokens = 10, double token_ratio = 0.1)
      : max_tokens_(max_tokens), token_ratio_(token_ratio), tokens_(max_tokens) {}

  void OnSuccess();
  // Takes a token for a retryable failure; true when a retry may follow.
  bool OnRetryableFailure();
  double tokens() const;

 private:
  const double max_tokens_;
  const double token_ratio_;
  mutable absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
};

// Whether attempt `attempt` (1 = the first) that failed with `status` is sent
// again after sleeping `sleep`, with `time_left` until the deadline.
// `budget_allows` is what RetryBudget::OnRetryableFailure said (ask it only
// for a retryable failure).
bool ShouldRetry(const absl::Status& status, bool replay_safe, int attempt, absl::Duration sleep,
                 absl::Duration time_left, bool budget_allows);

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_RETRY_POLICY_H_
