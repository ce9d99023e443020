// The retry rules of client-sdk/README.md ("Retries, safe by construction"),
// one by one, without a server.
#include "client-sdk/cpp/retry_policy.h"

#include <gtest/gtest.h>

#include "absl/random/random.h"
#include "client-sdk/cpp/client_status.h"

namespace fetchpool {
namespace {

using fetchpool::v1::FetchRequest;

FetchRequest WithMethod(const std::string& method, bool idempotent = false) {
  FetchRequest request;
  request.set_method(method);
  request.set_idempotent(idempotent);
  return request;
}

absl::Status Failure(absl::StatusCode code, const std::string& reason) {
  return StatusWithReason(static_cast<int>(code), "failed", reason);
}

TEST(RetryPolicyTest, ReplaySafeMethods) {
  EXPECT_TRUE(IsReplaySafe(WithMethod("")));
  EXPECT_TRUE(IsReplaySafe(WithMethod("GET")));
  EXPECT_TRUE(IsReplaySafe(WithMethod("head")));
  EXPECT_TRUE(IsReplaySafe(WithMethod("OPTIONS")));
  EXPECT_FALSE(IsReplaySafe(WithMethod("POST")));
  EXPECT_FALSE(IsReplaySafe(WithMethod("PUT")));
  EXPECT_FALSE(IsReplaySafe(WithMethod("DELETE")));
  EXPECT_TRUE(IsReplaySafe(WithMethod("POST", /*idempotent=*/true)));
}

TEST(RetryPolicyTest, TheContractsTable) {
  for (bool replay_safe : {false, true}) {
    SCOPED_TRACE(replay_safe);
    EXPECT_TRUE(IsRetryableFailure(Failure(absl::StatusCode::kUnavailable, "SHUTTING_DOWN"), replay_safe));
    EXPECT_TRUE(IsRetryableFailure(Failure(absl::StatusCode::kResourceExhausted, "QUEUE_FULL"), replay_safe));
    EXPECT_EQ(IsRetryableFailure(Failure(absl::StatusCode::kUnavailable, ""), replay_safe), replay_safe);
    // Anything else: never.
    EXPECT_FALSE(IsRetryableFailure(Failure(absl::StatusCode::kUnavailable, "CONNECTION_RESET"), replay_safe));
    EXPECT_FALSE(IsRetryableFailure(Failure(absl::StatusCode::kUnavailable, "CONNECT_REFUSED"), replay_safe));
    EXPECT_FALSE(IsRetryableFailure(Failure(absl::StatusCode::kDeadlineExceeded, ""), replay_safe));
    EXPECT_FALSE(IsRetryableFailure(Failure(absl::StatusCode::kDeadlineExceeded, "WAIT_TIMEOUT"), replay_safe));
    EXPECT_FALSE(IsRetryableFailure(Failure(absl::StatusCode::kCancelled, ""), replay_safe));
    EXPECT_FALSE(IsRetryableFailure(Failure(absl::StatusCode::kInternal, ""), replay_safe));
    EXPECT_FALSE(IsRetryableFailure(absl::OkStatus(), replay_safe));
  }
}

TEST(RetryPolicyTest, BackoffCapDoublesUpToTwoSeconds) {
  EXPECT_EQ(BackoffCap(1), absl::Milliseconds(250));
  EXPECT_EQ(BackoffCap(2), absl::Milliseconds(500));
  EXPECT_EQ(BackoffCap(3), absl::Seconds(1));
  EXPECT_EQ(BackoffCap(4), absl::Seconds(2));
  EXPECT_EQ(BackoffCap(5), absl::Seconds(2));
  EXPECT_EQ(BackoffCap(40), absl::Seconds(2));
}

TEST(RetryPolicyTest, BackoffIsBetweenHalfTheCapAndTheCap) {
  absl::BitGen random;
  for (int retry = 1; retry <= 5; ++retry) {
    absl::Duration low = absl::InfiniteDuration(), high = absl::ZeroDuration();
    for (int i = 0; i < 2000; ++i) {
      absl::Duration sleep = Backoff(retry, random);
      ASSERT_GE(sleep, BackoffCap(retry) / 2);
      ASSERT_LE(sleep, BackoffCap(retry));
      low = std::min(low, sleep);
      high = std::max(high, sleep);
    }
    // Spread over the range, not a constant.
    EXPECT_LT(low, BackoffCap(retry) * 0.6);
    EXPECT_GT(high, BackoffCap(retry) * 0.9);
  }
}

TEST(RetryPolicyTest, AtMostFiveAttempts) {
  const absl::Status queue_full = Failure(absl::StatusCode::kResourceExhausted, "QUEUE_FULL");
  for (int attempt = 1; attempt <= 4; ++attempt) {
    EXPECT_TRUE(ShouldRetry(queue_full, false, attempt, absl::Milliseconds(100), absl::Seconds(30), true));
  }
  EXPECT_FALSE(ShouldRetry(queue_full, false, 5, absl::Milliseconds(100), absl::Seconds(30), true));
}

TEST(RetryPolicyTest, NoRetryWhoseSleepEndsPastTheDeadline) {
  const absl::Status unavailable = Failure(absl::StatusCode::kUnavailable, "");
  EXPECT_TRUE(ShouldRetry(unavailable, true, 1, absl::Milliseconds(200), absl::Milliseconds(201), true));
  EXPECT_FALSE(ShouldRetry(unavailable, true, 1, absl::Milliseconds(200), absl::Milliseconds(200), true));
  EXPECT_FALSE(ShouldRetry(unavailable, true, 1, absl::Milliseconds(200), absl::Milliseconds(-5), true));
}

TEST(RetryPolicyTest, NoRetryWithoutBudgetOrForAnUnsafeFailure) {
  const absl::Status unavailable = Failure(absl::StatusCode::kUnavailable, "");
  EXPECT_FALSE(ShouldRetry(unavailable, true, 1, absl::Milliseconds(1), absl::Seconds(30), false));
  EXPECT_FALSE(ShouldRetry(unavailable, false, 1, absl::Milliseconds(1), absl::Seconds(30), true));
}

TEST(RetryBudgetTest, StartsFullAndStopsRetriesAtHalf) {
  RetryBudget budget;
  EXPECT_DOUBLE_EQ(budget.tokens(), 10);
  // 10 -> 9, 8, 7, 6: retries allowed while more than 5 are left.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(budget.OnRetryableFailure()) << i;
  EXPECT_FALSE(budget.OnRetryableFailure());  // 5 is not more than 5
  EXPECT_DOUBLE_EQ(budget.tokens(), 5);
  for (int i = 0; i < 20; ++i) budget.OnRetryableFailure();
  EXPECT_DOUBLE_EQ(budget.tokens(), 0);  // never below 0
}

TEST(RetryBudgetTest, SuccessesRefillByATenthUpToTheMax) {
  RetryBudget budget;
  for (int i = 0; i < 6; ++i) budget.OnRetryableFailure();  // 4 left
  for (int i = 0; i < 10; ++i) budget.OnSuccess();          // ~5
  EXPECT_NEAR(budget.tokens(), 5, 1e-9);
  EXPECT_FALSE(budget.OnRetryableFailure());  // ~4
  for (int i = 0; i < 30; ++i) budget.OnSuccess();  // ~7
  EXPECT_TRUE(budget.OnRetryableFailure());  // ~6 > 5
  for (int i = 0; i < 1000; ++i) budget.OnSuccess();
  EXPECT_DOUBLE_EQ(budget.tokens(), 10);  // never above the max
}

}  // namespace
}  // namespace fetchpool
