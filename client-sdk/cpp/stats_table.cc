#include "client-sdk/cpp/stats_table.h"

#include <algorithm>
#include <array>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fetchpool {
namespace client {
namespace {

using fetchpool::v1::HostPoolStats;

constexpr size_t kColumns = 11;
constexpr std::array<const char*, kColumns> kHeader = {
    "HOST", "MAX", "BUSY", "IDLE", "CONN", "WAIT", "REQS", "REUSE%", "OPENED", "TW", "WAIT_TO"};

using Row = std::array<std::string, kColumns>;

std::string ReusePercent(const HostPoolStats& p) {
  if (p.requests_total() == 0) return "-";
  double percent = 100.0 * static_cast<double>(p.reused_requests_total()) / static_cast<double>(p.requests_total());
  return absl::StrFormat("%.1f%%", percent);
}

Row MakeRow(const std::string& label, const HostPoolStats& p) {
  return Row{label,
             absl::StrCat(p.max_connections()),
             absl::StrCat(p.busy_connections()),
             absl::StrCat(p.idle_connections()),
             absl::StrCat(p.connecting_connections()),
             absl::StrCat(p.wait_queue_length()),
             absl::StrCat(p.requests_total()),
             ReusePercent(p),
             absl::StrCat(p.connections_opened_total()),
             absl::StrCat(p.time_wait_estimate()),
             absl::StrCat(p.wait_timeouts_total())};
}

// Only the columns shown are summed: this stands in for a missing `totals`.
HostPoolStats SumShownColumns(const google::protobuf::RepeatedPtrField<HostPoolStats>& pools) {
  HostPoolStats sum;
  for (const HostPoolStats& p : pools) {
    sum.set_max_connections(sum.max_connections() + p.max_connections());
    sum.set_busy_connections(sum.busy_connections() + p.busy_connections());
    sum.set_idle_connections(sum.idle_connections() + p.idle_connections());
    sum.set_connecting_connections(sum.connecting_connections() + p.connecting_connections());
    sum.set_wait_queue_length(sum.wait_queue_length() + p.wait_queue_length());
    sum.set_requests_total(sum.requests_total() + p.requests_total());
    sum.set_reused_requests_total(sum.reused_requests_total() + p.reused_requests_total());
    sum.set_connections_opened_total(sum.connections_opened_total() + p.connections_opened_total());
    sum.set_time_wait_estimate(sum.time_wait_estimate() + p.time_wait_estimate());
    sum.set_wait_timeouts_total(sum.wait_timeouts_total() + p.wait_timeouts_total());
  }
  return sum;
}

}  // namespace

std::string FormatStatsTable(const fetchpool::v1::StatsResponse& stats) {
  std::vector<const HostPoolStats*> pools;
  pools.reserve(stats.pools_size());
  for (const HostPoolStats& p : stats.pools()) pools.push_back(&p);
  std::sort(pools.begin(), pools.end(), [](const HostPoolStats* a, const HostPoolStats* b) {
    if (a->wait_queue_length() != b->wait_queue_length()) return a->wait_queue_length() > b->wait_queue_length();
    return a->host() < b->host();
  });

  std::vector<Row> rows;
  rows.reserve(pools.size() + 2);
  Row header;
  std::copy(kHeader.begin(), kHeader.end(), header.begin());
  rows.push_back(header);
  for (const HostPoolStats* p : pools) rows.push_back(MakeRow(p->host(), *p));
  rows.push_back(MakeRow("TOTAL", stats.has_totals() ? stats.totals() : SumShownColumns(stats.pools())));

  std::array<size_t, kColumns> width{};
  for (const Row& row : rows) {
    for (size_t c = 0; c < kColumns; ++c) width[c] = std::max(width[c], row[c].size());
  }

  // Host left-aligned, numbers right-aligned, two spaces between columns.
  std::string out;
  for (const Row& row : rows) {
    std::string line = absl::StrFormat("%-*s", static_cast<int>(width[0]), row[0]);
    for (size_t c = 1; c < kColumns; ++c) absl::StrAppendFormat(&line, "  %*s", static_cast<int>(width[c]), row[c]);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace client
}  // namespace fetchpool
