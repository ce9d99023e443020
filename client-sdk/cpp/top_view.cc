#include "client-sdk/cpp/top_view.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace fetchpool {
namespace client {
namespace {

using fetchpool::v1::Histogram;
using fetchpool::v1::HostPoolStats;
using fetchpool::v1::StatsResponse;

// Host names are not shortened below this while a column can still go.
constexpr int kMinHostWidth = 16;
// At most this many error reasons in the header, the most frequent first.
constexpr size_t kMaxHeaderReasons = 3;

enum Column {
  kHost, kMax, kBusy, kIdle, kConn, kWait, kOldest, kReqRate, kReuse, kOpenRate,
  kTw, kTwk, kQwait99, kFetch99, kErrRate, kColumnCount
};

constexpr std::array<const char*, kColumnCount> kColumnNames = {
    "HOST", "MAX", "BUSY", "IDLE", "CONN", "WAIT", "OLDEST", "REQ/S", "REUSE%", "OPEN/S",
    "TW", "TWK", "QWAIT99", "FETCH99", "ERR/S"};

// Hidden in this order when the terminal is too narrow. HOST, BUSY, IDLE,
// WAIT, REUSE% and TW (what the view is for) always stay.
constexpr std::array<Column, 9> kDropOrder = {kTwk, kOpenRate, kFetch99, kConn, kMax,
                                              kOldest, kQwait99, kErrRate, kReqRate};

using Row = std::array<std::string, kColumnCount>;

// A counter's growth between two snapshots; a counter that went down was
// reset (pool evicted and made again), so all of it is new.
uint64_t Growth(uint64_t cur, uint64_t prev) { return cur >= prev ? cur - prev : cur; }

std::string FormatRate(double per_second) {
  if (per_second <= 0) return "0";
  if (per_second < 9.95) return absl::StrFormat("%.1f", per_second);
  if (per_second < 9999.5) return absl::StrFormat("%.0f", per_second);
  if (per_second < 999950) return absl::StrFormat("%.1fk", per_second / 1e3);
  return absl::StrFormat("%.1fM", per_second / 1e6);
}

std::string FormatMs(double ms) {
  if (ms < 9.95) return absl::StrFormat("%.1fms", ms);
  if (ms < 999.5) return absl::StrFormat("%.0fms", ms);
  if (ms < 59950) return absl::StrFormat("%.1fs", ms / 1e3);
  if (ms < 999500) return absl::StrFormat("%.0fs", ms / 1e3);
  return absl::StrFormat("%.0fm", ms / 60e3);
}

std::string FormatPercent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  return absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(std::min(part, whole)) / static_cast<double>(whole));
}

// A percentile of one interval's observations.
struct Percentile {
  bool known = false;     // the interval had observations
  double ms = 0;
  bool overflow = false;  // beyond the last bound: `ms` is that bound

  std::string Format() const {
    if (!known) return "-";
    return overflow ? absl::StrCat(">", FormatMs(ms)) : FormatMs(ms);
  }
};

bool SameBounds(const Histogram& a, const Histogram& b) {
  if (a.upper_bounds_ms_size() != b.upper_bounds_ms_size()) return false;
  for (int i = 0; i < a.upper_bounds_ms_size(); ++i) {
    if (a.upper_bounds_ms(i) != b.upper_bounds_ms(i)) return false;
  }
  return true;
}

// The server's estimate (pool/histogram.cc), over the buckets' growth
// since `prev` (null: all of `cur`): linear inside the bucket holding the
// rank; the overflow bucket reports its lower bound.
Percentile IntervalPercentile(const Histogram* prev, const Histogram& cur, double p) {
  const int buckets = cur.bucket_counts_size();
  if (buckets != cur.upper_bounds_ms_size() + 1) return {};  // malformed: say nothing
  std::vector<uint64_t> grown(static_cast<size_t>(buckets));
  bool reset = prev == nullptr || !SameBounds(*prev, cur) || prev->bucket_counts_size() != buckets;
  for (int i = 0; i < buckets && !reset; ++i) reset = cur.bucket_counts(i) < prev->bucket_counts(i);
  uint64_t total = 0;
  for (int i = 0; i < buckets; ++i) {
    grown[i] = reset ? cur.bucket_counts(i) : cur.bucket_counts(i) - prev->bucket_counts(i);
    total += grown[i];
  }
  if (total == 0) return {};
  const double rank = p * static_cast<double>(total);
  double seen = 0;
  for (int i = 0; i < buckets; ++i) {
    if (grown[i] == 0) continue;
    const double lower = i == 0 ? 0 : cur.upper_bounds_ms(i - 1);
    if (i == buckets - 1) return {true, lower, true};
    const double upper = cur.upper_bounds_ms(i);
    if (seen + static_cast<double>(grown[i]) >= rank) {
      const double within = (rank - seen) / static_cast<double>(grown[i]);
      return {true, lower + (upper - lower) * std::clamp(within, 0.0, 1.0), false};
    }
    seen += static_cast<double>(grown[i]);
  }
  return {true, cur.upper_bounds_ms(buckets - 2), false};
}

// One pool as the view sees it: the snapshot plus its interval figures.
struct PoolView {
  const HostPoolStats* pool = nullptr;
  bool has_interval = false;  // a previous snapshot and a positive elapsed
  double request_rate = 0;
  double open_rate = 0;
  double error_rate = 0;
  uint64_t requests = 0;  // in the interval
  uint64_t reused = 0;
  Percentile queue_wait_p99;
  Percentile fetch_time_p99;
};

PoolView MakeView(const HostPoolStats& cur, const HostPoolStats* prev, bool has_interval, double seconds,
                  std::map<std::string, uint64_t>* errors_by_reason) {
  PoolView v;
  v.pool = &cur;
  v.has_interval = has_interval;
  if (!has_interval) return v;
  // A pool missing from the previous snapshot is new: it counts from zero.
  static const HostPoolStats kZero;
  const HostPoolStats& before = prev != nullptr ? *prev : kZero;
  v.requests = Growth(cur.requests_total(), before.requests_total());
  v.reused = Growth(cur.reused_requests_total(), before.reused_requests_total());
  v.request_rate = static_cast<double>(v.requests) / seconds;
  v.open_rate = static_cast<double>(Growth(cur.connections_opened_total(), before.connections_opened_total())) / seconds;
  v.error_rate = static_cast<double>(Growth(cur.failures_total(), before.failures_total())) / seconds;
  v.queue_wait_p99 = IntervalPercentile(prev != nullptr ? &prev->queue_wait() : nullptr, cur.queue_wait(), 0.99);
  v.fetch_time_p99 = IntervalPercentile(prev != nullptr ? &prev->fetch_time() : nullptr, cur.fetch_time(), 0.99);
  for (const auto& [reason, count] : cur.errors_by_reason()) {
    auto it = before.errors_by_reason().find(reason);
    (*errors_by_reason)[reason] += Growth(count, it == before.errors_by_reason().end() ? 0 : it->second);
  }
  return v;
}

bool RanksBefore(TopSort sort, const PoolView& a, const PoolView& b) {
  const HostPoolStats& x = *a.pool;
  const HostPoolStats& y = *b.pool;
  switch (sort) {
    case TopSort::kWaiters:
      if (x.wait_queue_length() != y.wait_queue_length()) return x.wait_queue_length() > y.wait_queue_length();
      if (x.busy_connections() != y.busy_connections()) return x.busy_connections() > y.busy_connections();
      break;
    case TopSort::kBusy:
      if (x.busy_connections() != y.busy_connections()) return x.busy_connections() > y.busy_connections();
      if (x.wait_queue_length() != y.wait_queue_length()) return x.wait_queue_length() > y.wait_queue_length();
      break;
    case TopSort::kRequests:
      if (a.has_interval) {
        if (a.requests != b.requests) return a.requests > b.requests;
      } else if (x.requests_total() != y.requests_total()) {
        return x.requests_total() > y.requests_total();
      }
      break;
    case TopSort::kTimeWait:
      if (x.time_wait_estimate() != y.time_wait_estimate()) return x.time_wait_estimate() > y.time_wait_estimate();
      if (x.time_wait_kernel() != y.time_wait_kernel()) return x.time_wait_kernel() > y.time_wait_kernel();
      break;
  }
  return x.host() < y.host();
}

std::string OldestWaiter(uint32_t waiters, uint64_t age_us) {
  return waiters == 0 ? "-" : FormatMs(static_cast<double>(age_us) / 1e3);
}

Row MakeRow(const PoolView& v) {
  const HostPoolStats& p = *v.pool;
  auto rate = [&](double r) { return v.has_interval ? FormatRate(r) : std::string("-"); };
  return Row{p.host(),
             absl::StrCat(p.max_connections()),
             absl::StrCat(p.busy_connections()),
             absl::StrCat(p.idle_connections()),
             absl::StrCat(p.connecting_connections()),
             absl::StrCat(p.wait_queue_length()),
             OldestWaiter(p.wait_queue_length(), p.oldest_waiter_age_us()),
             rate(v.request_rate),
             v.has_interval ? FormatPercent(v.reused, v.requests) : "-",
             rate(v.open_rate),
             absl::StrCat(p.time_wait_estimate()),
             absl::StrCat(p.time_wait_kernel()),
             v.queue_wait_p99.Format(),
             v.fetch_time_p99.Format(),
             rate(v.error_rate)};
}

// "scheme://host:port" in at most `width` columns: the scheme goes first
// (the port mostly tells it), then the middle of the name.
std::string ShortenHost(const std::string& host, size_t width) {
  if (host.size() <= width) return host;
  size_t scheme_end = host.find("://");
  std::string rest = scheme_end == std::string::npos ? host : host.substr(scheme_end + 3);
  if (rest.size() <= width) return rest;
  if (width < 6) return rest.substr(0, width);
  const size_t tail = (width - 2) / 2;
  const size_t head = width - 2 - tail;
  return absl::StrCat(rest.substr(0, head), "..", rest.substr(rest.size() - tail));
}

// Fields joined by two spaces, wrapped onto more lines to stay within
// `width` (0: one line). A field wider than `width` alone is cut.
void AppendWrapped(const std::vector<std::string>& fields, size_t width, std::vector<std::string>* lines) {
  const size_t first = lines->size();
  std::string line;
  for (const std::string& field : fields) {
    if (!line.empty() && width > 0 && line.size() + 2 + field.size() > width) {
      lines->push_back(std::move(line));
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : "  ", field);
  }
  if (!line.empty()) lines->push_back(std::move(line));
  for (size_t i = first; width > 0 && i < lines->size(); ++i) {
    if ((*lines)[i].size() > width) (*lines)[i].resize(width);
  }
}

// What the header shows of the pools as a whole: the server's totals, or
// the same figures over the pools if it sent none.
HostPoolStats Totals(const StatsResponse& stats) {
  if (stats.has_totals()) return stats.totals();
  HostPoolStats t;
  for (const HostPoolStats& p : stats.pools()) {
    t.set_busy_connections(t.busy_connections() + p.busy_connections());
    t.set_idle_connections(t.idle_connections() + p.idle_connections());
    t.set_connecting_connections(t.connecting_connections() + p.connecting_connections());
    t.set_wait_queue_length(t.wait_queue_length() + p.wait_queue_length());
    t.set_oldest_waiter_age_us(std::max(t.oldest_waiter_age_us(), p.oldest_waiter_age_us()));
    t.set_time_wait_estimate(t.time_wait_estimate() + p.time_wait_estimate());
    t.set_time_wait_kernel(t.time_wait_kernel() + p.time_wait_kernel());
  }
  return t;
}

}  // namespace

absl::optional<TopSort> ParseTopSort(absl::string_view name) {
  for (TopSort sort : {TopSort::kWaiters, TopSort::kBusy, TopSort::kRequests, TopSort::kTimeWait}) {
    if (name == TopSortName(sort)) return sort;
  }
  return absl::nullopt;
}

const char* TopSortName(TopSort sort) {
  switch (sort) {
    case TopSort::kWaiters: return "waiters";
    case TopSort::kBusy: return "busy";
    case TopSort::kRequests: return "reqs";
    case TopSort::kTimeWait: return "tw";
  }
  return "waiters";
}

std::string RenderTopFrame(const StatsResponse* prev, const StatsResponse& cur, absl::Duration elapsed, int width,
                           const TopFrameOptions& options) {
  const size_t max_width = width > 0 ? static_cast<size_t>(width) : 0;
  const bool has_interval = prev != nullptr && elapsed > absl::ZeroDuration();
  const double seconds = absl::ToDoubleSeconds(elapsed);

  // Interval figures for every pool (not only the rows that fit): the
  // header's rates are their sums, not the totals' growth, which a pool
  // evicted in between would make go down.
  absl::flat_hash_map<std::string, const HostPoolStats*> before;
  if (has_interval) {
    for (const HostPoolStats& p : prev->pools()) before.emplace(p.host(), &p);
  }
  std::map<std::string, uint64_t> errors_by_reason;
  std::vector<PoolView> views;
  views.reserve(cur.pools_size());
  PoolView sum;
  sum.has_interval = has_interval;
  for (const HostPoolStats& p : cur.pools()) {
    auto it = before.find(p.host());
    views.push_back(MakeView(p, it == before.end() ? nullptr : it->second, has_interval, seconds, &errors_by_reason));
    const PoolView& v = views.back();
    sum.request_rate += v.request_rate;
    sum.open_rate += v.open_rate;
    sum.error_rate += v.error_rate;
    sum.requests += v.requests;
    sum.reused += v.reused;
  }
  std::sort(views.begin(), views.end(),
            [&](const PoolView& a, const PoolView& b) { return RanksBefore(options.sort, a, b); });

  // Header, three groups of fields, each a line if the width allows:
  // the connections now, the interval's traffic, its errors.
  const HostPoolStats totals = Totals(cur);
  auto rate = [&](double r) { return has_interval ? FormatRate(r) : std::string("-"); };
  const std::vector<std::string> state = {
      options.time == absl::InfinitePast()
          ? std::string("fetchpool")
          : absl::StrCat("fetchpool ", absl::FormatTime("%H:%M:%S", options.time, options.time_zone)),
      static_cast<uint32_t>(cur.pools_size()) < cur.pool_count()
          ? absl::StrCat("pools ", cur.pools_size(), " of ", cur.pool_count())
          : absl::StrCat("pools ", std::max<uint32_t>(cur.pool_count(), cur.pools_size())),
      absl::StrCat("busy ", totals.busy_connections()),
      absl::StrCat("idle ", totals.idle_connections()),
      absl::StrCat("conn ", totals.connecting_connections()),
      absl::StrCat("waiting ", totals.wait_queue_length()),
      absl::StrCat("oldest ", OldestWaiter(totals.wait_queue_length(), totals.oldest_waiter_age_us()))};
  const std::vector<std::string> activity = {
      absl::StrCat("req/s ", rate(sum.request_rate)),
      absl::StrCat("reuse ", has_interval ? FormatPercent(sum.reused, sum.requests) : "-"),
      absl::StrCat("open/s ", rate(sum.open_rate)),
      absl::StrCat("TIME_WAIT est ", totals.time_wait_estimate(), " kernel ", totals.time_wait_kernel())};
  std::vector<std::string> errors = {absl::StrCat("err/s ", rate(sum.error_rate))};
  std::vector<std::pair<std::string, uint64_t>> reasons;
  for (const auto& [reason, count] : errors_by_reason) {
    if (count > 0) reasons.emplace_back(reason, count);
  }
  std::stable_sort(reasons.begin(), reasons.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (reasons.size() > kMaxHeaderReasons) reasons.resize(kMaxHeaderReasons);
  for (const auto& [reason, count] : reasons) {
    errors.push_back(absl::StrCat(reason, " ", FormatRate(static_cast<double>(count) / seconds), "/s"));
  }

  std::vector<Row> rows;
  rows.reserve(views.size());
  for (const PoolView& v : views) rows.push_back(MakeRow(v));

  // Columns: each as wide as its widest cell; when the line is too wide,
  // hosts shrink to kMinHostWidth, then columns go, then hosts shrink more.
  std::array<size_t, kColumnCount> col_width{};
  for (size_t c = 0; c < kColumnCount; ++c) col_width[c] = std::string(kColumnNames[c]).size();
  for (const Row& row : rows) {
    for (size_t c = 0; c < kColumnCount; ++c) col_width[c] = std::max(col_width[c], row[c].size());
  }
  std::array<bool, kColumnCount> shown;
  shown.fill(true);
  auto others_width = [&] {
    size_t w = 0;
    for (size_t c = 1; c < kColumnCount; ++c) w += shown[c] ? 1 + col_width[c] : 0;
    return w;
  };
  size_t host_width = col_width[kHost];
  std::vector<std::string> hidden;
  if (max_width > 0) {
    const size_t min_host = std::min(host_width, static_cast<size_t>(kMinHostWidth));
    for (Column c : kDropOrder) {
      if (others_width() + min_host <= max_width) break;
      shown[c] = false;
    }
    for (size_t c = 1; c < kColumnCount; ++c) {
      if (!shown[c]) hidden.push_back(kColumnNames[c]);
    }
    const size_t room = max_width > others_width() ? max_width - others_width() : 0;
    host_width = std::max<size_t>(std::min(host_width, room), 4);
  }
  std::vector<std::string> lines;
  AppendWrapped(state, max_width, &lines);
  AppendWrapped(activity, max_width, &lines);
  AppendWrapped(errors, max_width, &lines);
  // A line of its own: the header's height then changes only with the width.
  if (!hidden.empty()) {
    AppendWrapped({absl::StrCat("hidden (too narrow): ", absl::StrJoin(hidden, " "))}, max_width, &lines);
  }
  lines.emplace_back();

  // Rows that fit the height, after the header, a blank line and the
  // column names, keeping a line to count the rest.
  size_t rows_shown = rows.size();
  const size_t fixed_lines = lines.size() + 1 + (rows.empty() ? 1 : 0);
  if (options.height > 0 && fixed_lines + rows.size() > static_cast<size_t>(options.height)) {
    const size_t room = static_cast<size_t>(options.height) > fixed_lines + 1 ? options.height - fixed_lines - 1 : 0;
    rows_shown = std::min(rows.size(), room);
  }

  auto format_row = [&](const Row& row, bool is_header) {
    std::string line = absl::StrFormat("%-*s", static_cast<int>(host_width),
                                       is_header ? row[kHost] : ShortenHost(row[kHost], host_width));
    for (size_t c = 1; c < kColumnCount; ++c) {
      if (shown[c]) absl::StrAppendFormat(&line, " %*s", static_cast<int>(col_width[c]), row[c]);
    }
    return line;
  };
  Row names;
  std::copy(kColumnNames.begin(), kColumnNames.end(), names.begin());
  lines.push_back(format_row(names, true));
  for (size_t i = 0; i < rows_shown; ++i) lines.push_back(format_row(rows[i], false));
  if (rows.empty()) lines.push_back("(no pools)");
  if (rows_shown < rows.size()) {
    lines.push_back(absl::StrCat("... ", rows.size() - rows_shown, " more pool", rows.size() - rows_shown == 1 ? "" : "s",
                                 " (sorted by ", TopSortName(options.sort), ")"));
  }

  // Last resort, for terminals too small for even this: cut, never wrap.
  if (options.height > 0 && lines.size() > static_cast<size_t>(options.height)) lines.resize(options.height);
  std::string out;
  for (std::string& line : lines) {
    if (max_width > 0 && line.size() > max_width) line.resize(max_width);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace client
}  // namespace fetchpool
