// The stats table: column layout, row order, the TOTAL row.
#include "client-sdk/cpp/stats_table.h"

#include <gtest/gtest.h>

#include "tests/client-sdk/fake_fetchpool.h"

namespace fetchpool {
namespace client {
namespace {

TEST(StatsTableTest, CannedStats) {
  EXPECT_EQ(FormatStatsTable(testing::CannedStats()),
            "HOST                       MAX  BUSY  IDLE  CONN  WAIT  REQS  REUSE%  OPENED  TW  WAIT_TO\n"
            "http://api.internal:80       8     8     0     0    31  1200   97.5%      30   2        4\n"
            "http://slow.internal:8080    2     2     0     0     5    10   70.0%       3   1        9\n"
            "http://new.internal:80       8     0     0     1     0     0       -       0   0        0\n"
            "https://auth.example:443     4     1     3     0     0  5000   99.9%       4   0        0\n"
            "TOTAL                       22    11     3     1    36  6210   99.4%      37   3       13\n");
}

TEST(StatsTableTest, EqualQueuesSortByHost) {
  fetchpool::v1::StatsResponse stats;
  stats.add_pools()->set_host("http://b:80");
  stats.add_pools()->set_host("http://a:80");
  std::string table = FormatStatsTable(stats);
  EXPECT_LT(table.find("http://a:80"), table.find("http://b:80"));
}

TEST(StatsTableTest, MissingTotalsAreSummed) {
  fetchpool::v1::StatsResponse stats = testing::CannedStats();
  fetchpool::v1::StatsResponse without_totals = stats;
  without_totals.clear_totals();
  EXPECT_EQ(FormatStatsTable(without_totals), FormatStatsTable(stats));
}

TEST(StatsTableTest, NoPools) {
  EXPECT_EQ(FormatStatsTable(fetchpool::v1::StatsResponse()),
            "HOST   MAX  BUSY  IDLE  CONN  WAIT  REQS  REUSE%  OPENED  TW  WAIT_TO\n"
            "TOTAL    0     0     0     0     0     0       -       0   0        0\n");
}

TEST(StatsTableTest, WideNumbersWidenTheirColumn) {
  fetchpool::v1::StatsResponse stats;
  auto* pool = stats.add_pools();
  pool->set_host("http://a:80");
  pool->set_requests_total(12345678901ull);
  pool->set_reused_requests_total(12345678901ull);
  std::string table = FormatStatsTable(stats);
  EXPECT_NE(table.find("         REQS  REUSE%"), std::string::npos) << table;
  EXPECT_NE(table.find("12345678901  100.0%"), std::string::npos) << table;
}

}  // namespace
}  // namespace client
}  // namespace fetchpool
