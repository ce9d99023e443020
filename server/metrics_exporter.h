#ifndef FETCHPOOL_SERVER_METRICS_EXPORTER_H_
#define FETCHPOOL_SERVER_METRICS_EXPORTER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "server/caller_outcomes.h"
#include "server/config_reload.h"
#include "server/status_page.h"

namespace prometheus {
class Exposer;
struct MetricFamily;
}  // namespace prometheus

namespace fetchpool {

// Serves GET /metrics in the Prometheus text format (prometheus-cpp's
// Exposer), and on the same port the status page, GET / and GET /stats.json
// (server/status_page.h). Nothing is copied or kept between scrapes: every scrape asks the
// engine for a fresh snapshot (Engine::GetStats) and renders it.
//
// Families (all per host carry the label host="<pool key>"):
//   fetchpool_<name>                  one per FETCHPOOL_HOST_POOL_STATS field,
//                                     gauge or counter, help text from the list
//   fetchpool_errors_total            counter {host, reason}
//   fetchpool_queue_wait_seconds      histogram (LatencyHistogram buckets, s)
//   fetchpool_fetch_seconds           histogram
//   fetchpool_pools                   gauge, pools in the engine
//   fetchpool_metrics_hosts_overflow  gauge, pools folded into host="_other"
//   fetchpool_metrics_scrape_timeouts_total
//                                     counter, scrapes (and /stats.json requests)
//                                     the engine did not answer
//   fetchpool_build_info{version}     gauge, always 1
//   fetchpool_config_reloads_total    counter {result="ok"|"rejected"}: config
//                                     reloads (SIGHUP, --watch_config)
//   fetchpool_caller_requests_total   counter {caller, reason}: finished fetches
//                                     per caller identity, reason "OK" or the
//                                     stable reason (Options::caller_outcomes)
//
// Host label cap: at most `max_host_labels` pools get a host label of their
// own; the rest are summed into host="_other" (kGaugeMax fields take the
// max, as in the Stats totals). A host keeps its label for as long as its
// pool exists, so series do not jump between hosts when pools come and go;
// free slots go to new hosts in key order. (Counters of host="_other" can
// go down when a folded pool is evicted; rate() reads that as a reset.)
class MetricsExporter {
 public:
  struct Options {
    size_t max_host_labels = 1000;
    // How long a scrape waits for the engine's snapshot. When it passes, the
    // scrape gets only fetchpool_metrics_scrape_timeouts_total and
    // fetchpool_build_info: missing series rather than stale ones.
    absl::Duration snapshot_timeout = absl::Seconds(2);
    std::string version;  // fetchpool_build_info; empty: the built-in version
    size_t http_threads = 2;
    // fetchpool_caller_requests_total{caller,reason}; null: not exported.
    const CallerOutcomes* caller_outcomes = nullptr;
    // fetchpool_config_reloads_total{result}; null: not exported.
    const ConfigReloadCounts* config_reloads = nullptr;
    // /stats.json (and so the status page) carries per-pool rows: the Stats
    // RPC's rule for the anonymous caller (see server/status_page.h).
    bool stats_pool_details = true;
  };

  static constexpr char kOtherHost[] = "_other";

  // Listens on `listen` ("host:port"; port 0 picks one, see port()).
  // UNAVAILABLE if it cannot bind. `engine` must outlive the exporter.
  static absl::StatusOr<std::unique_ptr<MetricsExporter>> Start(Engine& engine,
                                                                const std::string& listen,
                                                                Options options);
  static absl::StatusOr<std::unique_ptr<MetricsExporter>> Start(Engine& engine,
                                                                const std::string& listen) {
    return Start(engine, listen, Options());
  }

  // Stops listening; waits for a scrape in progress.
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  int port() const { return port_; }

  // Everything one scrape returns, from `stats` (what Collect() runs after
  // GetStats). Public for tests. Thread-safe.
  std::vector<prometheus::MetricFamily> Render(const Engine::StatsResult& stats);

 private:
  class Collector;

  MetricsExporter(Engine& engine, Options options);
  std::vector<prometheus::MetricFamily> Scrape();
  // The engine's snapshot, or nullopt after options_.snapshot_timeout
  // (counted in scrape_timeouts_). Any thread; blocks.
  std::optional<Engine::StatsResult> Snapshot();
  // fetchpool_metrics_scrape_timeouts_total and fetchpool_build_info.
  void AppendExporterFamilies(std::vector<prometheus::MetricFamily>* families) const;

  Engine& engine_;
  const Options options_;
  std::atomic<uint64_t> scrape_timeouts_{0};

  std::mutex labels_mu_;
  std::set<std::string> labeled_hosts_;  // guarded by labels_mu_

  // Declared before exposer_: the Exposer (and its serving threads) goes
  // first, so no scrape can run on a destroyed collector.
  std::shared_ptr<Collector> collector_;
  StatusPageOptions status_page_;  // the status page handlers point here
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
  std::string local_host_;  // where the listener is reached from here
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_METRICS_EXPORTER_H_
