#include "bench/soak/report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace fetchpool::soak {

using fetchpool::v1::HostPoolStats;

namespace {

// ---- the report -----------------------------------------------------------------

struct WindowAvg {
  int n = 0;
  double rss_mib = 0, fds = 0, threads = 0;
};
WindowAvg Average(const std::vector<Sample>& v, double from, double to) {
  WindowAvg a;
  for (const Sample& s : v) {
    if (s.t < from || s.t >= to || s.rss_kb < 0) continue;
    ++a.n;
    a.rss_mib += s.rss_kb / 1024.0;
    a.fds += s.fds;
    a.threads += s.threads;
  }
  if (a.n > 0) {
    a.rss_mib /= a.n;
    a.fds /= a.n;
    a.threads /= a.n;
  }
  return a;
}

// Least-squares slope of RSS (MiB per minute) over the samples from `from` s on.
double RssSlopePerMinute(const std::vector<Sample>& v, double from, double to) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const Sample& s : v) {
    if (s.t < from || s.t > to || s.rss_kb < 0) continue;
    const double x = s.t / 60.0, y = s.rss_kb / 1024.0;
    n += 1;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double d = n * sxx - sx * sx;
  return n >= 3 && d > 0 ? (n * sxy - sx * sy) / d : 0;
}

std::string Pct(double from, double to) {
  if (from <= 0) return "n/a";
  return absl::StrFormat("%+.1f%%", 100.0 * (to - from) / from);
}

}  // namespace

bool Report(const Options& o, const RunSummary& run) {
  const double dur_s = absl::ToDoubleSeconds(o.duration);
  const double win_s = absl::ToDoubleSeconds(o.window), warm_s = absl::ToDoubleSeconds(o.warmup);
  const absl::Time start = run.start;
  const double drain_s = run.drain_s;
  const double settle_s = run.settle_s;
  const std::string& settle_state = run.settle_state;
  const int64_t* outstanding = run.outstanding;
  const int64_t max_unary = o.max_unary_in_flight;
  const Sample& final_sample = run.final_sample;

  // ---- the verdict ----
  const std::vector<Sample>& samples = run.samples;
  const WindowAvg first = Average(samples, warm_s, warm_s + win_s);
  const WindowAvg lastw = Average(samples, dur_s - win_s, dur_s + 0.001);
  std::vector<std::string> failures;
  const double rss_allow = std::max(first.rss_mib * o.rss_margin_fraction,
                                    o.rss_margin_mib);
  const double fd_allow = o.fd_margin, thr_allow = o.thread_margin;
  const bool windows_ok = first.n >= 3 && lastw.n >= 3;
  if (!windows_ok) failures.push_back("too few samples in the first or last window");
  const bool rss_ok = windows_ok && lastw.rss_mib <= first.rss_mib + rss_allow;
  const bool fd_ok = windows_ok && lastw.fds <= first.fds + fd_allow;
  const bool thr_ok = windows_ok && lastw.threads <= first.threads + thr_allow;
  if (windows_ok && !rss_ok) failures.push_back("RSS grew");
  if (windows_ok && !fd_ok) failures.push_back("descriptors grew");
  if (windows_ok && !thr_ok) failures.push_back("threads grew");
  int64_t n_violations = 0;
  for (const auto& [what, n] : ledger->violations_) n_violations += n;
  if (n_violations > 0) failures.push_back(absl::StrCat(n_violations, " violation(s)"));
  const bool pass = failures.empty();

  std::string md;
  auto line = [&](const std::string& s) { absl::StrAppend(&md, s, "\n"); };
  line(absl::StrCat("# fetchpool soak: ", pass ? "PASS" : "FAIL"));
  line("");
  line(absl::StrCat("Run ", absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", start, absl::LocalTimeZone()),
                    ", seed ", o.seed, ". ", o.setup));
  if (!pass) line(absl::StrCat("\n**FAIL:** ", absl::StrJoin(failures, "; "), "."));
  line("");
  line("| | |");
  line("|---|---|");
  line(absl::StrFormat("| load | %.0f s, then %.1f s until every call was answered |", dur_s, drain_s));
  line(absl::StrFormat("| pools settled after the load (nothing busy, connecting or waiting) | %s |",
                       settle_s >= 0 ? absl::StrFormat("yes, in %.1f s", settle_s) : "**no**: " + settle_state));
  line(absl::StrFormat("| resource samples | %zu, every %s |", samples.size(),
                       absl::FormatDuration(o.sample_interval)));
  line("");
  line("## Calls: every one answered exactly once");
  line("");
  line("| kind | started | answered | without answer | cancels sent by the caller |");
  line("|---|---:|---:|---:|---:|");
  for (int k = 0; k < kNumKinds; ++k) {
    line(absl::StrCat("| ", kKindNames[k], " | ", ledger->started_[k], " | ", ledger->answered_[k], " | ",
                      outstanding[k], " | ",
                      k == kStreamFetch ? std::string("(with their stream)") : absl::StrCat(ledger->cancels_[k]),
                      " |"));
  }
  if (ledger->skipped_[kUnary] > 0) {
    line(absl::StrCat("\n", ledger->skipped_[kUnary], " unary calls were not started: ", max_unary,
                      " already in flight."));
  }
  line("");
  line("## Answers by outcome");
  line("");
  line("OK answers by HTTP status; errors by `fetchpool-reason` (\"client side\": the caller's own deadline or "
       "cancel reached first; \"stream ended\": fetches still open when their FetchStream ended).");
  line("");
  line("| outcome | Fetch | FetchStream fetch | FetchStream | Stats | WatchStats |");
  line("|---|---:|---:|---:|---:|---:|");
  for (const auto& [label, by] : ledger->outcomes_) {
    line(absl::StrCat("| ", label, " | ", by[kUnary], " | ", by[kStreamFetch], " | ", by[kStream], " | ",
                      by[kStats], " | ", by[kWatch], " |"));
  }
  line("");
  line("## Stats invariants, per pool, in every StatsResponse");
  line("");
  line("busy + idle + connecting <= max_connections; idle <= max_idle_connections; waiters only while nothing "
       "is idle and the pool is at its cap; connections_opened_total - connections_closed_total == busy + idle "
       "+ connecting.");
  line("");
  line("| source | responses | pool snapshots | snapshots violating |");
  line("|---|---:|---:|---:|");
  int64_t total_resp = 0, total_pools = 0, total_bad = 0;
  for (const auto& [source, c] : ledger->stats_checks_) {
    line(absl::StrCat("| ", source, " | ", c[0], " | ", c[1], " | ", c[2], " |"));
    total_resp += c[0];
    total_pools += c[1];
    total_bad += c[2];
  }
  line(absl::StrCat("| **all** | ", total_resp, " | ", total_pools, " | ", total_bad, " |"));
  line("");
  line("## fetchpoold resources (averages)");
  line("");
  line(absl::StrFormat("| | first window (t = %.0f-%.0f s) | last window (t = %.0f-%.0f s) | change | allowed | |",
                       warm_s, warm_s + win_s, dur_s - win_s, dur_s));
  line("|---|---:|---:|---:|---|---|");
  line(absl::StrFormat("| RSS (MiB) | %.1f | %.1f | %s | +%.1f MiB | %s |", first.rss_mib, lastw.rss_mib,
                       Pct(first.rss_mib, lastw.rss_mib), rss_allow, rss_ok ? "ok" : "**grew**"));
  line(absl::StrFormat("| open descriptors | %.1f | %.1f | %+.1f | +%.0f | %s |", first.fds, lastw.fds,
                       lastw.fds - first.fds, fd_allow, fd_ok ? "ok" : "**grew**"));
  line(absl::StrFormat("| threads | %.1f | %.1f | %+.1f | +%.0f | %s |", first.threads, lastw.threads,
                       lastw.threads - first.threads, thr_allow, thr_ok ? "ok" : "**grew**"));
  int64_t peak_rss = 0, peak_fds = 0, peak_thr = 0, peak_wait = 0;
  for (const Sample& s : samples) {
    peak_rss = std::max(peak_rss, s.rss_kb);
    peak_fds = std::max(peak_fds, s.fds);
    peak_thr = std::max(peak_thr, s.threads);
    peak_wait = std::max(peak_wait, s.waiting);
  }
  line(absl::StrFormat("\nRSS trend after the warm-up (least squares, t = %.0f-%.0f s): %+.2f MiB per minute; "
                       "from the first to the last window: %+.2f MiB.",
                       warm_s, dur_s, RssSlopePerMinute(samples, warm_s, dur_s), lastw.rss_mib - first.rss_mib));
  line(absl::StrFormat("\nPeaks: RSS %.1f MiB, %d descriptors, %d threads, %d callers waiting. After the load "
                       "settled: RSS %.1f MiB, %d descriptors, %d threads. Samples per window: %d and %d.",
                       peak_rss / 1024.0, peak_fds, peak_thr, peak_wait, final_sample.rss_kb / 1024.0,
                       final_sample.fds, final_sample.threads, first.n, lastw.n));
  line("");
  line("## fetchpoold's own counters at the end (all pools)");
  line("");
  {
    const HostPoolStats& t = run.final_totals;
    line("| requests | reused | opened | closed | by origin (stale caught) | aborted | error | idle overflow | "
         "max lifetime | idle timeout | retries | wait timeouts | cancelled waiters | queue full | failures |");
    line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    line(absl::StrCat("| ", t.requests_total(), " | ", t.reused_requests_total(), " | ",
                      t.connections_opened_total(), " | ", t.connections_closed_total(), " | ",
                      t.closed_upstream_total(), " (", t.stale_caught_total(), ") | ", t.closed_aborted_total(),
                      " | ", t.closed_error_total(), " | ", t.closed_idle_overflow_total(), " | ",
                      t.closed_max_lifetime_total(), " | ", t.closed_idle_timeout_total(), " | ",
                      t.retries_total(), " | ", t.wait_timeouts_total(), " | ", t.cancelled_waiters_total(),
                      " | ", t.queue_full_total(), " | ", t.failures_total(), " |"));
  }
  line("");
  line("## Routes");
  line("");
  line("\"unexpected\": errors on a route that should succeed, without a caller cancel (reported, not failed: "
       "under load a small pool may queue past a wait timeout).");
  line("");
  line("| route | calls | outcomes | unexpected |");
  line("|---|---:|---|---:|");
  for (const auto& [name, t] : ledger->routes_) {
    std::vector<std::pair<int64_t, std::string>> top;
    for (const auto& [o, n] : t.outcomes) top.push_back({n, o});
    std::sort(top.rbegin(), top.rend());
    std::vector<std::string> parts;
    for (const auto& [n, o] : top) parts.push_back(absl::StrCat(o, " ", n));
    line(absl::StrCat("| ", name, " | ", t.calls, " | ", absl::StrJoin(parts, ", "), " | ", t.unexpected, " |"));
  }
  line("");
  line("## Violations");
  line("");
  if (ledger->violations_.empty()) {
    line("None.");
  } else {
    line("| violation | count |");
    line("|---|---:|");
    for (const auto& [what, n] : ledger->violations_) line(absl::StrCat("| ", what, " | ", n, " |"));
    line("");
    line("First examples:");
    line("");
    for (const auto& e : ledger->examples_) line(absl::StrCat("- ", e));
  }

  std::fputs(md.c_str(), stdout);
  std::fflush(stdout);
  if (const std::string& path = o.report; !path.empty()) {
    std::ofstream(path) << md;
  }
  if (const std::string& path = o.samples; !path.empty()) {
    std::ofstream out(path);
    out << "t_s\trss_kb\tfds\tthreads\tpools\tbusy\tidle\tconnecting\twaiting\topened\tclosed\n";
    for (const Sample& s : samples) {
      out << absl::StrFormat("%.1f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s.t, s.rss_kb, s.fds, s.threads,
                             s.pools, s.busy, s.idle, s.connecting, s.waiting, s.opened, s.closed);
    }
  }
  return pass;
}

}  // namespace fetchpool::soak
