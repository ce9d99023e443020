// RenderTopFrame from canned snapshots: rates over the interval, interval
// percentiles, sort orders, fitting to the width and height, the empty case.
#include "client-sdk/cpp/top_view.h"

#include <sstream>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "tests/client-sdk/fake_fetchpool.h"

namespace fetchpool {
namespace client {
namespace {

using fetchpool::v1::HostPoolStats;
using fetchpool::v1::StatsResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// The server's buckets (pool/histogram.h).
const std::vector<double> kBoundsMs = {0.1, 0.25, 0.5, 1,    2.5,  5,    10,    25,    50,
                                       100, 250,  500, 1000, 2500, 5000, 10000, 30000, 60000};

// A histogram with `counts` observations in the buckets given by index.
void SetHistogram(v1::Histogram* h, const std::vector<std::pair<int, uint64_t>>& counts) {
  h->Clear();
  for (double b : kBoundsMs) h->add_upper_bounds_ms(b);
  for (size_t i = 0; i <= kBoundsMs.size(); ++i) h->add_bucket_counts(0);
  for (const auto& [bucket, n] : counts) {
    h->set_bucket_counts(bucket, h->bucket_counts(bucket) + n);
    h->set_count(h->count() + n);
  }
}

HostPoolStats Pool(const std::string& host, uint32_t busy, uint32_t waiting, uint64_t requests = 0) {
  HostPoolStats p;
  p.set_host(host);
  p.set_max_connections(8);
  p.set_busy_connections(busy);
  p.set_idle_connections(8 - busy);
  p.set_wait_queue_length(waiting);
  p.set_requests_total(requests);
  return p;
}

StatsResponse Snapshot(std::vector<HostPoolStats> pools) {
  StatsResponse s;
  for (auto& p : pools) *s.add_pools() = std::move(p);
  s.set_pool_count(s.pools_size());
  return s;
}

std::vector<std::string> Lines(const std::string& frame) {
  std::vector<std::string> lines = absl::StrSplit(frame, '\n');
  EXPECT_EQ(lines.back(), "") << "frame does not end in a newline";
  lines.pop_back();
  return lines;
}

// The hosts of the frame's rows, top to bottom.
std::vector<std::string> RowHosts(const std::string& frame) {
  std::vector<std::string> hosts;
  bool in_table = false;
  for (const std::string& line : Lines(frame)) {
    if (in_table && !line.empty() && line.rfind("...", 0) != 0) {
      hosts.push_back(line.substr(0, line.find(' ')));
    }
    if (line.rfind("HOST ", 0) == 0) in_table = true;
  }
  return hosts;
}

// The frame's line starting with `prefix`, or "".
std::string LineStartingWith(const std::string& frame, const std::string& prefix) {
  for (const std::string& line : Lines(frame)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

TEST(TopSortTest, NamesRoundTrip) {
  for (TopSort sort : {TopSort::kWaiters, TopSort::kBusy, TopSort::kRequests, TopSort::kTimeWait}) {
    EXPECT_EQ(ParseTopSort(TopSortName(sort)), sort);
  }
  EXPECT_EQ(ParseTopSort("tw"), TopSort::kTimeWait);
  EXPECT_EQ(ParseTopSort("reqs"), TopSort::kRequests);
  EXPECT_EQ(ParseTopSort("Waiters"), absl::nullopt);
  EXPECT_EQ(ParseTopSort(""), absl::nullopt);
}

TEST(RenderTopFrameTest, RatesOverTheInterval) {
  HostPoolStats before = Pool("http://api:80", 8, 3, 10000);
  before.set_reused_requests_total(9000);
  before.set_connections_opened_total(100);
  before.set_failures_total(50);
  (*before.mutable_errors_by_reason())["WAIT_TIMEOUT"] = 50;
  HostPoolStats after = before;
  after.set_requests_total(10500);         // +500 in 2 s: 250/s
  after.set_reused_requests_total(9490);   // +490 of 500: 98.0%
  after.set_connections_opened_total(110); // +10: 5.0/s
  after.set_failures_total(57);            // +7: 3.5/s
  (*after.mutable_errors_by_reason())["WAIT_TIMEOUT"] = 55;
  (*after.mutable_errors_by_reason())["CONNECT_REFUSED"] = 2;
  after.set_oldest_waiter_age_us(1234567);
  after.set_time_wait_estimate(12);
  after.set_time_wait_kernel(13);
  StatsResponse prev = Snapshot({before});
  StatsResponse cur = Snapshot({after});

  TopFrameOptions options;
  options.time = absl::FromUnixSeconds(1700000000);  // 22:13:20 UTC
  EXPECT_EQ(RenderTopFrame(&prev, cur, absl::Seconds(2), 0, options),
            "fetchpool 22:13:20  pools 1  busy 8  idle 0  conn 0  waiting 3  oldest 1.2s\n"
            "req/s 250  reuse 98.0%  open/s 5.0  TIME_WAIT est 12 kernel 13\n"
            "err/s 3.5  WAIT_TIMEOUT 2.5/s  CONNECT_REFUSED 1.0/s\n"
            "\n"
            "HOST          MAX BUSY IDLE CONN WAIT OLDEST REQ/S REUSE% OPEN/S TW TWK QWAIT99 FETCH99 ERR/S\n"
            "http://api:80   8    8    0    0    3   1.2s   250  98.0%    5.0 12  13       -       -   3.5\n");
}

TEST(RenderTopFrameTest, FirstFrameHasNoRates) {
  HostPoolStats p = Pool("http://api:80", 2, 0, 10000);
  p.set_reused_requests_total(9000);
  SetHistogram(p.mutable_queue_wait(), {{3, 100}});
  StatsResponse cur = Snapshot({p});
  const std::string frame = RenderTopFrame(nullptr, cur, absl::ZeroDuration(), 0);
  EXPECT_EQ(LineStartingWith(frame, "req/s"), "req/s -  reuse -  open/s -  TIME_WAIT est 0 kernel 0");
  EXPECT_EQ(LineStartingWith(frame, "err/s"), "err/s -");
  // Lifetime figures are not passed off as the interval's.
  EXPECT_EQ(LineStartingWith(frame, "http://api:80"),
            "http://api:80   8    2    6    0    0      -     -      -      -  0   0       -       -     -");
  // No time given: none shown.
  EXPECT_EQ(Lines(frame)[0], "fetchpool  pools 1  busy 2  idle 6  conn 0  waiting 0  oldest -");
}

TEST(RenderTopFrameTest, PercentilesAreTheIntervals) {
  HostPoolStats before = Pool("http://api:80", 1, 0, 1000);
  SetHistogram(before.mutable_queue_wait(), {{3, 1000}});  // 1000 waits of 0.5-1ms
  SetHistogram(before.mutable_fetch_time(), {{3, 1000}});
  HostPoolStats after = before;
  after.set_requests_total(1100);
  // The interval's 100 waits were all 25-50ms: its p99 is 25 + 0.99 * 25.
  SetHistogram(after.mutable_queue_wait(), {{3, 1000}, {8, 100}});
  // Fetches beyond the last bound: reported as more than it.
  SetHistogram(after.mutable_fetch_time(), {{3, 1000}, {18, 100}});
  StatsResponse prev = Snapshot({before});
  StatsResponse cur = Snapshot({after});
  const std::string row = LineStartingWith(RenderTopFrame(&prev, cur, absl::Seconds(1), 0), "http://api:80");
  EXPECT_THAT(row, HasSubstr("   50ms    >60s     0"));

  // Nothing observed in the interval: no percentile, whatever the lifetime.
  StatsResponse same = Snapshot({before});
  EXPECT_THAT(LineStartingWith(RenderTopFrame(&prev, same, absl::Seconds(1), 0), "http://api:80"),
              HasSubstr("   -       -     0"));
}

TEST(RenderTopFrameTest, NewPoolsAndResetCountersCountFromZero) {
  HostPoolStats old_api = Pool("http://api:80", 1, 0, 5000);
  HostPoolStats api = Pool("http://api:80", 1, 0, 40);  // evicted and made again: 40 new
  HostPoolStats fresh = Pool("http://new:80", 1, 0, 60);  // not in the previous snapshot
  StatsResponse prev = Snapshot({old_api});
  StatsResponse cur = Snapshot({api, fresh});
  const std::string frame = RenderTopFrame(&prev, cur, absl::Seconds(1), 0);
  EXPECT_THAT(LineStartingWith(frame, "http://api:80"), HasSubstr("      -    40 "));
  EXPECT_THAT(LineStartingWith(frame, "http://new:80"), HasSubstr("      -    60 "));
  EXPECT_THAT(LineStartingWith(frame, "req/s"), HasSubstr("req/s 100 "));
}

TEST(RenderTopFrameTest, SortOrders) {
  HostPoolStats a = Pool("http://a:80", 2, 0, 100);
  HostPoolStats b = Pool("http://b:80", 8, 5, 100);
  HostPoolStats c = Pool("http://c:80", 8, 5, 100);
  HostPoolStats d = Pool("http://d:80", 7, 9, 100);
  HostPoolStats e = Pool("http://e:80", 5, 5, 100);
  StatsResponse prev = Snapshot({a, b, c, d, e});
  a.set_requests_total(900);  // +800
  e.set_requests_total(400);  // +300
  a.set_time_wait_estimate(3);
  c.set_time_wait_estimate(3);
  c.set_time_wait_kernel(4);
  StatsResponse cur = Snapshot({e, d, c, b, a});

  auto order = [&](TopSort sort, const StatsResponse* before) {
    TopFrameOptions options;
    options.sort = sort;
    return RowHosts(RenderTopFrame(before, cur, absl::Seconds(1), 0, options));
  };
  // Most waiters, then busiest, then by name.
  EXPECT_THAT(order(TopSort::kWaiters, &prev),
              ElementsAre("http://d:80", "http://b:80", "http://c:80", "http://e:80", "http://a:80"));
  EXPECT_THAT(order(TopSort::kBusy, &prev),
              ElementsAre("http://b:80", "http://c:80", "http://d:80", "http://e:80", "http://a:80"));
  EXPECT_THAT(order(TopSort::kRequests, &prev),
              ElementsAre("http://a:80", "http://e:80", "http://b:80", "http://c:80", "http://d:80"));
  // Without a previous snapshot, by lifetime requests.
  EXPECT_THAT(order(TopSort::kRequests, nullptr),
              ElementsAre("http://a:80", "http://e:80", "http://b:80", "http://c:80", "http://d:80"));
  EXPECT_THAT(order(TopSort::kTimeWait, &prev),
              ElementsAre("http://c:80", "http://a:80", "http://b:80", "http://d:80", "http://e:80"));
}

TEST(RenderTopFrameTest, Empty) {
  EXPECT_EQ(RenderTopFrame(nullptr, StatsResponse(), absl::ZeroDuration(), 0),
            "fetchpool  pools 0  busy 0  idle 0  conn 0  waiting 0  oldest -\n"
            "req/s -  reuse -  open/s -  TIME_WAIT est 0 kernel 0\n"
            "err/s -\n"
            "\n"
            "HOST MAX BUSY IDLE CONN WAIT OLDEST REQ/S REUSE% OPEN/S TW TWK QWAIT99 FETCH99 ERR/S\n"
            "(no pools)\n");
  // One pool asked for, and it does not exist (yet).
  StatsResponse none;
  none.set_pool_count(12);
  EXPECT_THAT(RenderTopFrame(&none, none, absl::Seconds(1), 0), HasSubstr("pools 0 of 12"));
}

// The realistic snapshots the fake server sends, as piped to a script.
TEST(RenderTopFrameTest, CannedWatchFrame) {
  StatsResponse prev = testing::CannedWatchSnapshot(0);
  StatsResponse cur = testing::CannedWatchSnapshot(1);
  TopFrameOptions options;
  options.time = absl::FromUnixSeconds(1700000000);
  EXPECT_EQ(
      RenderTopFrame(&prev, cur, absl::Seconds(1), 0, options),
      "fetchpool 22:13:20  pools 6  busy 19  idle 12  conn 1  waiting 34  oldest 2.2s\n"
      "req/s 1625  reuse 99.1%  open/s 4.0  TIME_WAIT est 44 kernel 46\n"
      "err/s 2.0  DEADLINE_EXCEEDED 1.0/s  WAIT_TIMEOUT 1.0/s\n"
      "\n"
      "HOST                                             MAX BUSY IDLE CONN WAIT OLDEST REQ/S REUSE% OPEN/S TW TWK "
      "QWAIT99 FETCH99 ERR/S\n"
      "http://api.internal:80                             8    8    0    0   28  210ms   250  97.2%    1.0  2   2    "
      "97ms   235ms   1.0\n"
      "http://slow.internal:8080                          2    2    0    0    6   2.2s   2.0  50.0%      0  1   1    "
      "2.5s    2.5s   1.0\n"
      "http://search.svc.cluster.local:9200              16    6   10    0    0      -   460  99.3%    2.0  0   0   "
      "0.2ms    90ms     0\n"
      "https://auth.example:443                           4    2    2    0    0      -   910  99.9%      0  0   0   "
      "0.1ms    24ms     0\n"
      "https://payments.partner-gateway.example.com:443   4    1    0    0    0      -   3.0  33.3%    1.0 41  43   "
      "0.1ms   248ms     0\n"
      "http://new.internal:80                             8    0    0    1    0      -     0      -      0  0   0       "
      "-       -     0\n");
}

// The same on a 120-column terminal: the README's sample of `fetchpoolctl top`.
TEST(RenderTopFrameTest, ReadmeSample) {
  StatsResponse prev = testing::CannedWatchSnapshot(0);
  StatsResponse cur = testing::CannedWatchSnapshot(1);
  TopFrameOptions options;
  options.time = absl::FromUnixSeconds(1700000000);
  options.height = 39;
  EXPECT_EQ(RenderTopFrame(&prev, cur, absl::Seconds(1), 120, options),
            R"(fetchpool 22:13:20  pools 6  busy 19  idle 12  conn 1  waiting 34  oldest 2.2s
req/s 1625  reuse 99.1%  open/s 4.0  TIME_WAIT est 44 kernel 46
err/s 2.0  DEADLINE_EXCEEDED 1.0/s  WAIT_TIMEOUT 1.0/s

HOST                                     MAX BUSY IDLE CONN WAIT OLDEST REQ/S REUSE% OPEN/S TW TWK QWAIT99 FETCH99 ERR/S
http://api.internal:80                     8    8    0    0   28  210ms   250  97.2%    1.0  2   2    97ms   235ms   1.0
http://slow.internal:8080                  2    2    0    0    6   2.2s   2.0  50.0%      0  1   1    2.5s    2.5s   1.0
http://search.svc.cluster.local:9200      16    6   10    0    0      -   460  99.3%    2.0  0   0   0.2ms    90ms     0
https://auth.example:443                   4    2    2    0    0      -   910  99.9%      0  0   0   0.1ms    24ms     0
payments.partner-gateway.example.com:443   4    1    0    0    0      -   3.0  33.3%    1.0 41  43   0.1ms   248ms     0
http://new.internal:80                     8    0    0    1    0      -     0      -      0  0   0       -       -     0
)");
}

TEST(RenderTopFrameTest, NarrowTerminalShortensHostsThenHidesColumns) {
  StatsResponse prev = testing::CannedWatchSnapshot(0);
  StatsResponse cur = testing::CannedWatchSnapshot(1);
  // Wide enough for every column once hosts are shortened.
  std::string wide = RenderTopFrame(&prev, cur, absl::Seconds(1), 100);
  for (const std::string& line : Lines(wide)) EXPECT_LE(line.size(), 100u) << line;
  EXPECT_THAT(wide, Not(HasSubstr("hidden")));
  EXPECT_THAT(RowHosts(wide), ElementsAre("api.internal:80", "slow.internal:8080", "search.sv..ocal:9200",
                                          "auth.example:443", "payments...e.com:443", "new.internal:80"));
  EXPECT_THAT(LineStartingWith(wide, "api.internal:80"), HasSubstr("97ms   235ms   1.0"));

  // 80 columns: the least useful columns go; the numbers left are whole.
  std::string narrow = RenderTopFrame(&prev, cur, absl::Seconds(1), 80);
  for (const std::string& line : Lines(narrow)) EXPECT_LE(line.size(), 80u) << line;
  EXPECT_EQ(LineStartingWith(narrow, "hidden"), "hidden (too narrow): OPEN/S TWK FETCH99");
  EXPECT_EQ(LineStartingWith(narrow, "HOST"),
            "HOST                MAX BUSY IDLE CONN WAIT OLDEST REQ/S REUSE% TW QWAIT99 ERR/S");
  EXPECT_EQ(LineStartingWith(narrow, "api.internal:80"),
            "api.internal:80       8    8    0    0   28  210ms   250  97.2%  2    97ms   1.0");

  // Very narrow: only the essential columns, still whole.
  std::string tiny = RenderTopFrame(&prev, cur, absl::Seconds(1), 40);
  for (const std::string& line : Lines(tiny)) EXPECT_LE(line.size(), 40u) << line;
  // 40 - 25 for the columns left: 15 for the host, less than kMinHostWidth.
  EXPECT_EQ(LineStartingWith(tiny, "HOST"), "HOST            BUSY IDLE WAIT REUSE% TW");
  EXPECT_EQ(LineStartingWith(tiny, "payment"), "payment..om:443    1    0    0  33.3% 41");
}

TEST(RenderTopFrameTest, RowsBeyondTheHeightAreCounted) {
  StatsResponse prev = testing::CannedWatchSnapshot(0);
  StatsResponse cur = testing::CannedWatchSnapshot(1);
  TopFrameOptions options;
  options.height = 9;  // 3 header lines, a blank, column names, 3 rows, the count
  std::vector<std::string> lines = Lines(RenderTopFrame(&prev, cur, absl::Seconds(1), 0, options));
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines.back(), "... 3 more pools (sorted by waiters)");
  EXPECT_EQ(lines[5].substr(0, 22), "http://api.internal:80");
  // The header's totals are still over every pool.
  EXPECT_THAT(lines[0], HasSubstr("busy 19"));
  EXPECT_THAT(lines[1], HasSubstr("req/s 1625"));

  options.height = 3;  // not even the header fits: cut, not wrapped
  EXPECT_EQ(Lines(RenderTopFrame(&prev, cur, absl::Seconds(1), 0, options)).size(), 3u);
}

TEST(RenderTopFrameTest, HostFilterShowsPoolsOfAll) {
  StatsResponse prev = testing::CannedWatchSnapshot(0, "http://slow.internal:8080");
  StatsResponse cur = testing::CannedWatchSnapshot(1, "http://slow.internal:8080");
  std::string frame = RenderTopFrame(&prev, cur, absl::Seconds(1), 0);
  EXPECT_THAT(Lines(frame)[0], HasSubstr("pools 1 of 6  busy 2"));
  EXPECT_THAT(RowHosts(frame), ElementsAre("http://slow.internal:8080"));
}

TEST(RenderTopFrameTest, RateFormats) {
  // 1 request over various intervals, and large counts: short, readable.
  HostPoolStats p = Pool("http://a:80", 0, 0, 0);
  StatsResponse prev = Snapshot({p});
  auto req_rate = [&](uint64_t requests, absl::Duration elapsed) {
    HostPoolStats q = p;
    q.set_requests_total(requests);
    StatsResponse cur = Snapshot({q});
    std::string line = LineStartingWith(RenderTopFrame(&prev, cur, elapsed, 0), "req/s ");
    return line.substr(6, line.find(' ', 6) - 6);
  };
  EXPECT_EQ(req_rate(0, absl::Seconds(1)), "0");
  EXPECT_EQ(req_rate(1, absl::Seconds(10)), "0.1");
  EXPECT_EQ(req_rate(99, absl::Seconds(10)), "9.9");
  EXPECT_EQ(req_rate(9999, absl::Seconds(1)), "9999");
  EXPECT_EQ(req_rate(12345, absl::Seconds(1)), "12.3k");
  EXPECT_EQ(req_rate(2500000, absl::Seconds(1)), "2.5M");
}

}  // namespace
}  // namespace client
}  // namespace fetchpool
