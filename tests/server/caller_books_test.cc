// Per-caller in-flight quotas and outcome counts (gRPC-free).
#include <string>
#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/caller_outcomes.h"
#include "server/caller_quotas.h"

namespace fetchpool {
namespace {

TEST(CallerQuotasTest, OneCallerAtItsCapDoesNotStopAnother) {
  CallerQuotas quotas(2);
  EXPECT_TRUE(quotas.Acquire("a").ok());
  EXPECT_TRUE(quotas.Acquire("a").ok());
  absl::Status over = quotas.Acquire("a");
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(over), "CALLER_QUOTA_EXCEEDED");
  EXPECT_THAT(over.message(), ::testing::HasSubstr("--max_inflight_per_caller"));
  EXPECT_TRUE(quotas.Acquire("b").ok());
  EXPECT_EQ(quotas.InFlight("a"), 2u);
  EXPECT_EQ(quotas.InFlight("b"), 1u);
  quotas.Release("a");
  EXPECT_TRUE(quotas.Acquire("a").ok());
  quotas.Release("a");
  quotas.Release("a");
  quotas.Release("b");
  EXPECT_EQ(quotas.InFlight("a"), 0u);
  EXPECT_EQ(quotas.InFlight("b"), 0u);
}

TEST(CallerQuotasTest, ZeroIsUnlimited) {
  CallerQuotas quotas(0);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(quotas.Acquire("a").ok());
  EXPECT_EQ(quotas.InFlight("a"), 100000u);
}

TEST(CallerQuotasTest, ConcurrentAcquireNeverPassesTheCap) {
  CallerQuotas quotas(50);
  std::vector<std::thread> threads;
  std::atomic<int> admitted{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (quotas.Acquire("a").ok()) {
          admitted.fetch_add(1);
          EXPECT_LE(quotas.InFlight("a"), 50u);
          quotas.Release("a");
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GT(admitted.load(), 0);
  EXPECT_EQ(quotas.InFlight("a"), 0u);
}

TEST(CallerOutcomesTest, CountsPerCallerAndReason) {
  CallerOutcomes outcomes(nullptr);
  outcomes.Record("a", "http://x:80", absl::OkStatus());
  outcomes.Record("a", "http://x:80", absl::OkStatus());
  outcomes.Record("a", "", MakeError(Reason::kCallerQuota, "over"));
  outcomes.Record("b", "http://x:80", MakeError(Reason::kUnauthenticated, "no"));
  EXPECT_EQ(outcomes.CountOf("a", "OK"), 2u);
  EXPECT_EQ(outcomes.CountOf("a", "CALLER_QUOTA_EXCEEDED"), 1u);
  EXPECT_EQ(outcomes.CountOf("b", "UNAUTHENTICATED"), 1u);
  std::vector<CallerOutcomes::Count> all = outcomes.Snapshot();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].caller, "a");
  EXPECT_EQ(all[2].caller, "b");
}

TEST(CallerOutcomesTest, NewCallersPastTheCapAreFoldedIntoOther) {
  CallerOutcomes::Options options;
  options.max_callers = 2;
  CallerOutcomes outcomes(nullptr, options);
  for (int i = 0; i < 10; ++i) outcomes.Record(absl::StrCat("c", i), "", absl::OkStatus());
  EXPECT_EQ(outcomes.CountOf("c0", "OK"), 1u);
  EXPECT_EQ(outcomes.CountOf("c1", "OK"), 1u);
  EXPECT_EQ(outcomes.CountOf("_other", "OK"), 8u);
}

TEST(CallerOutcomesTest, FailureLogCarriesTheTraceId) {
  std::vector<CallerOutcomes::Fields> lines;
  CallerOutcomes outcomes([&](const CallerOutcomes::Fields& f) { lines.push_back(f); });
  outcomes.Record("a", "http://x:80", MakeError(Reason::kCallerQuota, "over"),
                  "4bf92f3577b34da6a3ce929d0e0e4736");
  outcomes.Record("a", "http://x:80", MakeError(Reason::kCallerQuota, "over"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], ::testing::Contains(std::make_pair(
                            std::string("trace_id"), std::string("4bf92f3577b34da6a3ce929d0e0e4736"))));
  for (const auto& [name, value] : lines[1]) EXPECT_NE(name, "trace_id");  // none: no field
}

TEST(CallerOutcomesTest, FailureLogIsRateLimitedWithASuppressedCount) {
  std::vector<CallerOutcomes::Fields> lines;
  CallerOutcomes::Options options;
  options.max_failure_logs_per_second = 3;
  CallerOutcomes outcomes([&](const CallerOutcomes::Fields& f) { lines.push_back(f); }, options);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  const absl::Status failed = MakeError(Reason::kCallerQuota, "over the cap");
  outcomes.Record("a", "http://x:80", absl::OkStatus(), t0);  // successes are not logged
  for (int i = 0; i < 1000; ++i) outcomes.Record("a", "http://x:80", failed, t0);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], ::testing::Contains(std::make_pair(std::string("caller"),
                                                           std::string("a"))));
  EXPECT_THAT(lines[0], ::testing::Contains(std::make_pair(
                            std::string("reason"), std::string("CALLER_QUOTA_EXCEEDED"))));
  EXPECT_THAT(lines[0], ::testing::Contains(std::make_pair(std::string("pool"),
                                                           std::string("http://x:80"))));
  outcomes.Record("a", "http://x:80", failed, t0 + absl::Seconds(1));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[3], ::testing::Contains(std::make_pair(std::string("suppressed"),
                                                           std::string("997"))));
  EXPECT_EQ(outcomes.CountOf("a", "CALLER_QUOTA_EXCEEDED"), 1001u);
}

}  // namespace
}  // namespace fetchpool
