#include "server/metrics_exporter.h"

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <CivetServer.h>
#include <civetweb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <limits>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pool/histogram.h"
#include "pool/pool_stats.h"

#ifndef FETCHPOOL_VERSION
#define FETCHPOOL_VERSION "0.1.0-dev"
#endif

namespace fetchpool {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr char kPrefix[] = "fetchpool_";

// Counters carry the _total suffix exactly once, whether or not the field
// name already ends with it.
std::string MetricName(const char* field, StatKind kind) {
  std::string name = absl::StrCat(kPrefix, field);
  if (kind == StatKind::kCounter && !absl::EndsWith(name, "_total")) name += "_total";
  return name;
}

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

ClientMetric Sample(std::vector<ClientMetric::Label> labels, MetricType type, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return metric;
}

// Prometheus histograms: cumulative bucket counts with upper bounds in
// seconds, a +Inf bucket equal to _count, and _sum in seconds.
ClientMetric HistogramSample(const std::string& host, const LatencyHistogram& h) {
  ClientMetric metric;
  metric.label = {{"host", host}};
  const auto& counts = h.bucket_counts();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kUpperBoundsMs.size(); ++i) {
    cumulative += counts[i];
    metric.histogram.bucket.push_back({cumulative, LatencyHistogram::kUpperBoundsMs[i] / 1000.0});
  }
  cumulative += counts[LatencyHistogram::kBuckets - 1];
  metric.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = h.sum_ms() / 1000.0;
  return metric;
}

// The address to reach our own listener at: a wildcard bind is reached on
// loopback.
std::string LocalHostOf(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

// Opens and at once closes one TCP connection to host:port (best effort).
void Poke(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const bool connected = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    close(fd);
    if (connected) break;
  }
  freeaddrinfo(found);
}

// What one GetStats call hands back to the scraping thread. Shared with the
// callback, so a late answer (after the scrape gave up) lands safely.
struct PendingStats {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // guarded by mu
  Engine::StatsResult result;  // guarded by mu
};

// The exporter whose Exposer is being built on this thread: civetweb's
// init_context callback (a plain function pointer, called inside the
// Exposer's constructor before any request is served) has no other way to
// reach it.
thread_local MetricsExporter* starting_exporter = nullptr;

}  // namespace

// The Collectable the Exposer calls on its HTTP threads.
class MetricsExporter::Collector : public prometheus::Collectable {
 public:
  explicit Collector(MetricsExporter* exporter) : exporter_(exporter) {}
  std::vector<MetricFamily> Collect() const override { return exporter_->Scrape(); }

 private:
  MetricsExporter* const exporter_;
};

MetricsExporter::MetricsExporter(Engine& engine, Options options)
    : engine_(engine), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<MetricsExporter>> MetricsExporter::Start(Engine& engine,
                                                                        const std::string& listen,
                                                                        Options options) {
  std::unique_ptr<MetricsExporter> self(new MetricsExporter(engine, std::move(options)));
  self->collector_ = std::make_shared<Collector>(self.get());
  MetricsExporter* raw = self.get();
  self->status_page_.pool_details = self->options_.stats_pool_details;
  self->status_page_.snapshot = [raw] { return raw->Snapshot(); };
  // The status page's handlers go on the Exposer's own civetweb server
  // (the Exposer does not hand it out): added by init_context, before the
  // Exposer adds /metrics, which keeps its exact-match route and handler.
  CivetCallbacks callbacks;  // all null but this one
  callbacks.init_context = [](const mg_context* ctx) {
    if (starting_exporter == nullptr) return;
    RegisterStatusPage(const_cast<mg_context*>(ctx), &starting_exporter->status_page_);
  };
  starting_exporter = raw;
  try {
    self->exposer_ = std::make_unique<prometheus::Exposer>(listen, self->options_.http_threads,
                                                           &callbacks);
    starting_exporter = nullptr;
  } catch (const std::exception& e) {
    starting_exporter = nullptr;
    // CivetServer throws when it cannot bind.
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", listen, " (", e.what(), ")"));
  }
  std::vector<int> ports = self->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", listen));
  }
  self->port_ = ports.front();
  self->local_host_ = LocalHostOf(listen);
  self->exposer_->RegisterCollectable(self->collector_);
  return self;
}

MetricsExporter::~MetricsExporter() {
  // Stops the HTTP threads (waiting for a scrape in progress) before the
  // collector and the label state go away. civetweb's listener thread only
  // sees the stop flag when its poll() returns, which without traffic takes
  // up to 2 s (SOCKET_TIMEOUT_QUANTUM): connections to our own port wake it
  // at once.
  if (exposer_ == nullptr) return;
  std::mutex mu;
  std::condition_variable cv;
  bool stopped = false;
  std::thread waker([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopped; })) {
      lock.unlock();
      Poke(local_host_, port_);
      lock.lock();
    }
  });
  exposer_.reset();
  {
    std::lock_guard<std::mutex> lock(mu);
    stopped = true;
  }
  cv.notify_all();
  waker.join();
}

std::vector<MetricFamily> MetricsExporter::Scrape() {
  std::optional<Engine::StatsResult> stats = Snapshot();
  if (!stats.has_value()) {
    // Only the exporter's own families: absent per-host series are honest,
    // stale numbers would not be.
    std::vector<MetricFamily> families;
    AppendExporterFamilies(&families);
    return families;
  }
  return Render(*stats);
}

std::optional<Engine::StatsResult> MetricsExporter::Snapshot() {
  auto pending = std::make_shared<PendingStats>();
  engine_.GetStats("", [pending](Engine::StatsResult result) {
    std::lock_guard<std::mutex> lock(pending->mu);
    pending->result = std::move(result);
    pending->done = true;
    pending->cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(pending->mu);
  if (!pending->cv.wait_for(lock, absl::ToChronoNanoseconds(options_.snapshot_timeout),
                            [&] { return pending->done; })) {
    lock.unlock();
    scrape_timeouts_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  Engine::StatsResult stats = std::move(pending->result);
  lock.unlock();
  return stats;
}

std::vector<MetricFamily> MetricsExporter::Render(const Engine::StatsResult& stats) {
  // Which pools keep a label of their own: those labeled before (while their
  // pool exists), then new ones in key order while there is room.
  std::vector<const HostPoolStatsSnapshot*> pools;
  pools.reserve(stats.pools.size());
  for (const HostPoolStatsSnapshot& pool : stats.pools) pools.push_back(&pool);
  std::sort(pools.begin(), pools.end(),
            [](const HostPoolStatsSnapshot* a, const HostPoolStatsSnapshot* b) {
              return a->host < b->host;
            });
  std::vector<const HostPoolStatsSnapshot*> labeled;
  HostPoolStatsSnapshot other;
  other.host = kOtherHost;
  size_t folded = 0;
  {
    std::lock_guard<std::mutex> lock(labels_mu_);
    std::set<std::string> keep;
    for (const HostPoolStatsSnapshot* pool : pools) {
      if (labeled_hosts_.count(pool->host) > 0) keep.insert(pool->host);
    }
    for (const HostPoolStatsSnapshot* pool : pools) {
      if (keep.size() >= options_.max_host_labels) break;
      keep.insert(pool->host);
    }
    labeled_hosts_ = std::move(keep);
    for (const HostPoolStatsSnapshot* pool : pools) {
      if (labeled_hosts_.count(pool->host) > 0) {
        labeled.push_back(pool);
      } else {
        other.Accumulate(*pool);
        ++folded;
      }
    }
  }
  if (folded > 0) labeled.push_back(&other);

  std::vector<MetricFamily> families;
#define FETCHPOOL_STATS_FAMILY(name, type, kind, help)                                    \
  {                                                                                        \
    const MetricType metric_type =                                                         \
        StatKind::kind == StatKind::kCounter ? MetricType::Counter : MetricType::Gauge;    \
    MetricFamily family = Family(MetricName(#name, StatKind::kind), help, metric_type);    \
    family.metric.reserve(labeled.size());                                                 \
    for (const HostPoolStatsSnapshot* pool : labeled) {                                    \
      family.metric.push_back(                                                             \
          Sample({{"host", pool->host}}, metric_type, static_cast<double>(pool->name)));   \
    }                                                                                      \
    families.push_back(std::move(family));                                                 \
  }
  FETCHPOOL_HOST_POOL_STATS(FETCHPOOL_STATS_FAMILY)
#undef FETCHPOOL_STATS_FAMILY

  MetricFamily errors = Family("fetchpool_errors_total", "Fetches that ended in an error, by reason",
                               MetricType::Counter);
  for (const HostPoolStatsSnapshot* pool : labeled) {
    for (const auto& [reason, count] : pool->errors_by_reason) {
      errors.metric.push_back(Sample({{"host", pool->host}, {"reason", reason}},
                                     MetricType::Counter, static_cast<double>(count)));
    }
  }
  families.push_back(std::move(errors));

#define FETCHPOOL_HISTOGRAM_FAMILY(name, metric_name, help)                                  \
  {                                                                                        \
    MetricFamily family = Family(metric_name, help, MetricType::Histogram);                \
    for (const HostPoolStatsSnapshot* pool : labeled) {                                    \
      family.metric.push_back(HistogramSample(pool->host, pool->name));                    \
    }                                                                                      \
    families.push_back(std::move(family));                                                 \
  }
  FETCHPOOL_HOST_POOL_HISTOGRAMS(FETCHPOOL_HISTOGRAM_FAMILY)
#undef FETCHPOOL_HISTOGRAM_FAMILY

  MetricFamily pool_count = Family("fetchpool_pools", "Host pools in the engine", MetricType::Gauge);
  pool_count.metric.push_back(Sample({}, MetricType::Gauge, stats.pool_count));
  families.push_back(std::move(pool_count));

  MetricFamily overflow =
      Family("fetchpool_metrics_hosts_overflow",
             absl::StrCat("Pools summed into host=\"", kOtherHost,
                          "\" because of the host label cap"),
             MetricType::Gauge);
  overflow.metric.push_back(Sample({}, MetricType::Gauge, static_cast<double>(folded)));
  families.push_back(std::move(overflow));

  // The buffered-bytes budget (--max_buffered_bytes), engine-wide.
  MetricFamily buffered = Family("fetchpool_buffered_bytes",
                                 "Response bytes held until written to callers",
                                 MetricType::Gauge);
  buffered.metric.push_back(
      Sample({}, MetricType::Gauge, static_cast<double>(engine_.buffered_bytes())));
  families.push_back(std::move(buffered));
  MetricFamily budget = Family("fetchpool_max_buffered_bytes",
                               "The buffered-bytes budget (--max_buffered_bytes; 0: unlimited)",
                               MetricType::Gauge);
  budget.metric.push_back(
      Sample({}, MetricType::Gauge, static_cast<double>(engine_.max_buffered_bytes())));
  families.push_back(std::move(budget));
  MetricFamily refused = Family("fetchpool_buffer_budget_refusals_total",
                                "Fetches failed with BUFFER_BUDGET_EXCEEDED",
                                MetricType::Counter);
  refused.metric.push_back(
      Sample({}, MetricType::Counter, static_cast<double>(engine_.buffer_budget_refusals())));
  families.push_back(std::move(refused));

  AppendExporterFamilies(&families);
  return families;
}

void MetricsExporter::AppendExporterFamilies(std::vector<MetricFamily>* families) const {
  MetricFamily timeouts =
      Family("fetchpool_metrics_scrape_timeouts_total",
             "Scrapes that got no engine snapshot in time", MetricType::Counter);
  timeouts.metric.push_back(
      Sample({}, MetricType::Counter,
             static_cast<double>(scrape_timeouts_.load(std::memory_order_relaxed))));
  families->push_back(std::move(timeouts));

  MetricFamily build_info =
      Family("fetchpool_build_info", "fetchpool build, value always 1", MetricType::Gauge);
  build_info.metric.push_back(Sample(
      {{"version", options_.version.empty() ? std::string(FETCHPOOL_VERSION) : options_.version}},
      MetricType::Gauge, 1));
  families->push_back(std::move(build_info));

  if (options_.config_reloads != nullptr) {
    MetricFamily reloads = Family("fetchpool_config_reloads_total",
                                  "Config reloads (SIGHUP, --watch_config), by result",
                                  MetricType::Counter);
    reloads.metric.push_back(Sample({{"result", "ok"}}, MetricType::Counter,
                                    static_cast<double>(options_.config_reloads->ok())));
    reloads.metric.push_back(Sample({{"result", "rejected"}}, MetricType::Counter,
                                    static_cast<double>(options_.config_reloads->rejected())));
    families->push_back(std::move(reloads));
  }
  if (options_.caller_outcomes != nullptr) {
    MetricFamily callers =
        Family("fetchpool_caller_requests_total",
               "Finished fetches per caller identity, by reason (OK or the stable reason)",
               MetricType::Counter);
    for (const CallerOutcomes::Count& count : options_.caller_outcomes->Snapshot()) {
      callers.metric.push_back(Sample({{"caller", count.caller}, {"reason", count.reason}},
                                      MetricType::Counter, static_cast<double>(count.count)));
    }
    families->push_back(std::move(callers));
  }
}

}  // namespace fetchpool
