// /metrics (server/metrics_exporter): the Prometheus text a real fetchpool
// server serves after real fetches, checked against the Stats RPC; and the
// exporter's rendering (histograms, the host label cap) on synthetic stats.
#include <curl/curl.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "pool/histogram.h"
#include "pool/pool_stats_fields.h"
#include "server/metrics_exporter.h"
#include "tests/integration/http_get.h"
#include "tests/integration/service_fixture.h"
#include "engine/engine_test_peer.h"

namespace fetchpool::testing {
namespace {

// The Prometheus text format, parsed just enough for the checks below.
struct Exposition {
  std::vector<std::pair<std::string, double>> samples;  // in order: series, value
  std::map<std::string, double> value;                  // series -> value
  std::map<std::string, std::string> help;              // family -> help
  std::map<std::string, std::string> type;              // family -> type

  static Exposition Parse(const std::string& text) {
    Exposition out;
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(line, "# HELP ") || absl::StartsWith(line, "# TYPE ")) {
        const bool is_help = absl::StartsWith(line, "# HELP ");
        line.remove_prefix(7);
        const size_t space = line.find(' ');
        std::string name(line.substr(0, space));
        std::string rest(space == absl::string_view::npos ? "" : line.substr(space + 1));
        (is_help ? out.help : out.type)[name] = rest;
        continue;
      }
      if (absl::StartsWith(line, "#")) continue;
      const size_t space = line.rfind(' ');
      EXPECT_NE(space, absl::string_view::npos) << line;
      if (space == absl::string_view::npos) continue;
      std::string series(line.substr(0, space));
      double v = 0;
      absl::string_view number = line.substr(space + 1);
      if (number == "+Inf") {
        v = INFINITY;
      } else {
        EXPECT_TRUE(absl::SimpleAtod(number, &v)) << line;
      }
      out.samples.emplace_back(series, v);
      EXPECT_TRUE(out.value.emplace(series, v).second) << "duplicate series " << series;
    }
    return out;
  }

  bool Has(const std::string& series) const { return value.count(series) > 0; }
  double At(const std::string& series) const {
    auto it = value.find(series);
    EXPECT_TRUE(it != value.end()) << "no series " << series;
    return it == value.end() ? -1 : it->second;
  }
  // Distinct values of label `label` among the samples of `family`.
  std::set<std::string> LabelValues(const std::string& family, const std::string& label) const {
    std::set<std::string> out;
    const std::string prefix = family + "{";
    const std::string key = label + "=\"";
    for (const auto& [series, v] : samples) {
      if (!absl::StartsWith(series, prefix)) continue;
      size_t at = series.find(key);
      if (at == std::string::npos) continue;
      at += key.size();
      out.insert(series.substr(at, series.find('"', at) - at));
    }
    return out;
  }
};

std::string Series(const std::string& name, const std::string& host) {
  return absl::StrCat(name, "{host=\"", host, "\"}");
}

// Checks one histogram of one host: the buckets are LatencyHistogram's in
// seconds, cumulative (never decreasing), +Inf last and equal to _count.
void ExpectWellFormedHistogram(const Exposition& e, const std::string& name,
                               const std::string& host, double expected_count) {
  SCOPED_TRACE(name + " " + host);
  const std::string prefix = absl::StrCat(name, "_bucket{host=\"", host, "\",le=\"");
  std::vector<std::pair<std::string, double>> buckets;
  for (const auto& [series, v] : e.samples) {
    if (absl::StartsWith(series, prefix)) {
      buckets.emplace_back(series.substr(prefix.size(), series.size() - prefix.size() - 2), v);
    }
  }
  ASSERT_EQ(buckets.size(), LatencyHistogram::kBuckets);
  for (size_t i = 0; i < LatencyHistogram::kUpperBoundsMs.size(); ++i) {
    double le = 0;
    ASSERT_TRUE(absl::SimpleAtod(buckets[i].first, &le)) << buckets[i].first;
    EXPECT_NEAR(le, LatencyHistogram::kUpperBoundsMs[i] / 1000.0, 1e-12);
    if (i > 0) {
      EXPECT_GE(buckets[i].second, buckets[i - 1].second) << "le=" << buckets[i].first;
    }
  }
  EXPECT_EQ(buckets.back().first, "+Inf");
  EXPECT_GE(buckets.back().second, buckets[buckets.size() - 2].second);
  EXPECT_EQ(buckets.back().second, e.At(Series(name + "_count", host)));
  EXPECT_EQ(e.At(Series(name + "_count", host)), expected_count);
  EXPECT_GE(e.At(Series(name + "_sum", host)), 0);
}

class MetricsTest : public ServiceTest {
 protected:
  static ServerConfig NoMetricsConfig() {
    ServerConfig config = LoopbackConfig();
    config.metrics_listen = "";
    return config;
  }

  // Polls /metrics until no pool has a busy or connecting connection.
  bool WaitForQuietPools(int port, absl::Duration limit = absl::Seconds(5)) {
    const absl::Time give_up = absl::Now() + limit;
    while (absl::Now() < give_up) {
      Exposition e = Scrape(port);
      bool quiet = true;
      for (const auto& [series, v] : e.samples) {
        if ((absl::StartsWith(series, "fetchpool_busy_connections{") ||
             absl::StartsWith(series, "fetchpool_connecting_connections{") ||
             absl::StartsWith(series, "fetchpool_wait_queue_length{")) &&
            v != 0) {
          quiet = false;
        }
      }
      if (quiet) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  Exposition Scrape(int port) {
    long status = 0;
    std::string text = HttpGet(port, "/metrics", &status);
    EXPECT_EQ(status, 200);
    return Exposition::Parse(text);
  }

  std::vector<std::unique_ptr<TestOrigin>> more_origins_;

  void TearDown() override {
    ServiceTest::TearDown();
    for (auto& origin : more_origins_) origin->Stop();
  }
};

TEST_F(MetricsTest, ServesEveryStatPerHostMatchingTheStatsRpc) {
  StartServer(MetricsConfig());
  ASSERT_GT(server_->metrics_port(), 0);
  // One failure first (the origin resets), then keep-alive fetches that
  // leave one idle connection.
  CallResult reset = Get("/reset");
  EXPECT_FALSE(reset.status.ok());
  constexpr int kFetches = 3;
  for (int i = 0; i < kFetches; ++i) ASSERT_TRUE(Get("/echo").status.ok());
  ASSERT_TRUE(WaitForQuietPool());
  const v1::HostPoolStats stats = PoolStats();
  const std::string host = PoolKey();

  const Exposition e = Scrape(server_->metrics_port());

  // Every field of FETCHPOOL_HOST_POOL_STATS, with its help and type;
  // counters equal the Stats RPC's (nothing runs between the two).
#define CHECK_FIELD(name, type_, kind, help_)                                         \
  {                                                                                   \
    SCOPED_TRACE(#name);                                                              \
    const std::string family = "fetchpool_" #name;                                    \
    EXPECT_EQ(e.help.count(family) ? e.help.at(family) : "", help_);                  \
    EXPECT_EQ(e.type.count(family) ? e.type.at(family) : "",                          \
              StatKind::kind == StatKind::kCounter ? "counter" : "gauge");            \
    ASSERT_TRUE(e.Has(Series(family, host)));                                         \
    if (StatKind::kind == StatKind::kCounter) {                                       \
      EXPECT_EQ(e.At(Series(family, host)), static_cast<double>(stats.name()));       \
    }                                                                                 \
  }
  FETCHPOOL_HOST_POOL_STATS(CHECK_FIELD)
#undef CHECK_FIELD

  // Counter names keep _total exactly once.
  for (const auto& [family, type] : e.type) {
    EXPECT_FALSE(absl::StrContains(family, "_total_total")) << family;
    if (type == "counter" && absl::StartsWith(family, "fetchpool_")) {
      EXPECT_TRUE(absl::EndsWith(family, "_total")) << family;
    }
  }

  EXPECT_GE(stats.requests_total(), static_cast<uint64_t>(kFetches + 1));
  EXPECT_EQ(e.At(Series("fetchpool_idle_connections", host)), 1);
  EXPECT_EQ(e.At(Series("fetchpool_idle_connections", host)), stats.idle_connections());
  EXPECT_EQ(e.At(Series("fetchpool_busy_connections", host)), 0);
  EXPECT_EQ(e.At(Series("fetchpool_max_connections", host)), stats.max_connections());

  // Errors by reason: the same reasons and counts as Stats.
  ASSERT_FALSE(stats.errors_by_reason().empty());
  EXPECT_EQ(e.type.at("fetchpool_errors_total"), "counter");
  EXPECT_EQ(e.LabelValues("fetchpool_errors_total", "reason").size(),
            static_cast<size_t>(stats.errors_by_reason_size()));
  for (const auto& [reason, count] : stats.errors_by_reason()) {
    EXPECT_EQ(e.At(absl::StrCat("fetchpool_errors_total{host=\"", host, "\",reason=\"", reason,
                                "\"}")),
              static_cast<double>(count))
        << reason;
  }

  // Histograms.
  EXPECT_EQ(e.type.at("fetchpool_queue_wait_seconds"), "histogram");
  EXPECT_EQ(e.type.at("fetchpool_fetch_seconds"), "histogram");
  ExpectWellFormedHistogram(e, "fetchpool_queue_wait_seconds", host,
                            static_cast<double>(stats.queue_wait().count()));
  ExpectWellFormedHistogram(e, "fetchpool_fetch_seconds", host,
                            static_cast<double>(stats.fetch_time().count()));
  // Plain HTTP here: the handshake histogram is there, and empty.
  EXPECT_EQ(e.type.at("fetchpool_tls_handshake_seconds"), "histogram");
  ExpectWellFormedHistogram(e, "fetchpool_tls_handshake_seconds", host, 0);
  EXPECT_GE(stats.fetch_time().count(), static_cast<uint64_t>(kFetches));
  EXPECT_NEAR(e.At(Series("fetchpool_fetch_seconds_sum", host)), stats.fetch_time().sum_ms() / 1000,
              1e-9);

  // Process level.
  EXPECT_EQ(e.At("fetchpool_pools"), 1);
  EXPECT_EQ(e.At("fetchpool_metrics_hosts_overflow"), 0);
  EXPECT_EQ(e.At("fetchpool_metrics_scrape_timeouts_total"), 0);
  EXPECT_EQ(e.LabelValues("fetchpool_build_info", "version").size(), 1u);
  EXPECT_EQ(e.LabelValues("fetchpool_requests_total", "host"), std::set<std::string>{host});
  // The buffer budget. (What is held may not be 0 yet: a call's share is
  // released at its OnDone, which can follow the client's receipt.)
  EXPECT_TRUE(e.Has("fetchpool_buffered_bytes"));
  EXPECT_EQ(e.At("fetchpool_max_buffered_bytes"),
            static_cast<double>(EngineConfig().max_buffered_bytes));
  EXPECT_EQ(e.At("fetchpool_buffer_budget_refusals_total"), 0);
}

TEST_F(MetricsTest, NoMetricsListenerWhenMetricsListenIsEmpty) {
  StartServer(NoMetricsConfig());
  EXPECT_EQ(server_->metrics_port(), 0);
  EXPECT_TRUE(Get("/echo").status.ok());
}

TEST_F(MetricsTest, StartFailsWhenTheMetricsPortIsTaken) {
  StartServer(MetricsConfig());
  ServerConfig second = NoMetricsConfig();
  second.metrics_listen = absl::StrCat("127.0.0.1:", server_->metrics_port());
  absl::StatusOr<std::unique_ptr<FetchPoolServer>> other = FetchPoolServer::Start(second);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnavailable) << other.status();
  // The first one still serves.
  EXPECT_EQ(Scrape(server_->metrics_port()).At("fetchpool_pools"), 0);
}

TEST_F(MetricsTest, HostLabelCapFoldsTheRestIntoOther) {
  StartServer(MetricsConfig());
  std::vector<std::string> hosts = {PoolKey()};
  for (int i = 0; i < 3; ++i) {
    more_origins_.push_back(std::make_unique<TestOrigin>());
    ASSERT_TRUE(more_origins_.back()->Start().ok());
    hosts.push_back(more_origins_.back()->base_url());
  }
  // Pool i gets i + 1 fetches, so every pool's counters differ.
  for (size_t i = 0; i < hosts.size(); ++i) {
    for (size_t n = 0; n <= i; ++n) {
      v1::FetchRequest request;
      request.set_url(hosts[i] + "/echo");
      ASSERT_TRUE(Fetch(request).status.ok());
    }
  }
  const double total_requests = 1 + 2 + 3 + 4;
  ASSERT_TRUE(WaitForQuietPools(server_->metrics_port()));

  // The server's own exporter (cap 1000): one label per host.
  Exposition all = Scrape(server_->metrics_port());
  EXPECT_EQ(all.At("fetchpool_pools"), 4);
  EXPECT_EQ(all.LabelValues("fetchpool_requests_total", "host"),
            std::set<std::string>(hosts.begin(), hosts.end()));
  EXPECT_EQ(all.At("fetchpool_metrics_hosts_overflow"), 0);

  // A second exporter over the same engine with a cap of 2.
  MetricsExporter::Options options;
  options.max_host_labels = 2;
  absl::StatusOr<std::unique_ptr<MetricsExporter>> capped =
      MetricsExporter::Start(server_->engine(), "127.0.0.1:0", options);
  ASSERT_TRUE(capped.ok()) << capped.status();
  Exposition e = Scrape((*capped)->port());
  const std::set<std::string> labels = e.LabelValues("fetchpool_requests_total", "host");
  ASSERT_EQ(labels.size(), 3u);  // 2 hosts + _other
  EXPECT_EQ(labels.count("_other"), 1u);
  EXPECT_EQ(e.At("fetchpool_metrics_hosts_overflow"), 2);
  EXPECT_EQ(e.At("fetchpool_pools"), 4);
  // The same label values in every per-host family, histograms included.
  EXPECT_EQ(e.LabelValues("fetchpool_idle_connections", "host"), labels);
  EXPECT_EQ(e.LabelValues("fetchpool_fetch_seconds_count", "host"), labels);
  // Nothing is lost: labeled hosts show their own numbers, _other the sum
  // of the rest.
  double sum = 0;
  double other_expected = total_requests;
  for (const std::string& host : labels) {
    sum += e.At(Series("fetchpool_requests_total", host));
    if (host != "_other") {
      EXPECT_EQ(e.At(Series("fetchpool_requests_total", host)),
                all.At(Series("fetchpool_requests_total", host)));
      other_expected -= all.At(Series("fetchpool_requests_total", host));
    }
  }
  EXPECT_EQ(sum, total_requests);
  EXPECT_EQ(e.At(Series("fetchpool_requests_total", "_other")), other_expected);
  EXPECT_EQ(e.At(Series("fetchpool_idle_connections", "_other")), 2);  // one per folded pool
  ExpectWellFormedHistogram(e, "fetchpool_fetch_seconds", "_other", other_expected);
  // Labels are sticky: the same two hosts on the next scrape.
  EXPECT_EQ(Scrape((*capped)->port()).LabelValues("fetchpool_requests_total", "host"), labels);
  capped->reset();
}

TEST_F(MetricsTest, ScrapeWithoutAnEngineAnswerGetsOnlyExporterMetrics) {
  StartServer(NoMetricsConfig());
  ASSERT_TRUE(Get("/echo").status.ok());
  std::unique_ptr<MetricsExporter> exporter = StartExporter(absl::Milliseconds(100));
  ASSERT_NE(exporter, nullptr);
  // Keep the loop thread busy past the snapshot timeout; the engine answers
  // after the scrape has given up.
  std::thread blocker = StallLoop();
  Exposition e = Scrape(exporter->port());
  blocker.join();
  EXPECT_FALSE(e.Has("fetchpool_pools"));
  EXPECT_TRUE(e.LabelValues("fetchpool_requests_total", "host").empty());
  EXPECT_EQ(e.At("fetchpool_metrics_scrape_timeouts_total"), 1);
  EXPECT_EQ(e.LabelValues("fetchpool_build_info", "version").size(), 1u);
  // And the next scrape is complete again.
  Exposition next = Scrape(exporter->port());
  EXPECT_EQ(next.At("fetchpool_pools"), 1);
  EXPECT_EQ(next.At(Series("fetchpool_requests_total", PoolKey())), 1);
}

// ---------------------------------------------------------------------------
// Render() on synthetic stats.

class RenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(EngineConfig());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }
  void TearDown() override {
    exporter_.reset();
    engine_.reset();
  }

  MetricsExporter& Exporter(size_t max_host_labels) {
    MetricsExporter::Options options;
    options.max_host_labels = max_host_labels;
    options.version = "1.2.3-test";
    absl::StatusOr<std::unique_ptr<MetricsExporter>> exporter =
        MetricsExporter::Start(*engine_, "127.0.0.1:0", options);
    EXPECT_TRUE(exporter.ok()) << exporter.status();
    exporter_ = *std::move(exporter);
    return *exporter_;
  }

  static Engine::StatsResult Stats(const std::vector<std::string>& hosts) {
    Engine::StatsResult stats;
    for (const std::string& host : hosts) {
      HostPoolStatsSnapshot pool;
      pool.host = host;
      pool.requests_total = 10;
      pool.idle_connections = 1;
      stats.pools.push_back(pool);
    }
    stats.pool_count = static_cast<uint32_t>(hosts.size());
    return stats;
  }

  static const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& families,
                                              const std::string& name) {
    for (const auto& f : families) {
      if (f.name == name) return &f;
    }
    ADD_FAILURE() << "no family " << name;
    return nullptr;
  }

  static std::set<std::string> Hosts(const std::vector<prometheus::MetricFamily>& families) {
    std::set<std::string> out;
    const prometheus::MetricFamily* f = Find(families, "fetchpool_requests_total");
    if (f == nullptr) return out;
    for (const auto& m : f->metric) out.insert(m.label.at(0).value);
    return out;
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<MetricsExporter> exporter_;
};

TEST_F(RenderTest, HistogramsAreCumulativeInSeconds) {
  MetricsExporter& exporter = Exporter(10);
  Engine::StatsResult stats = Stats({"http://a:80"});
  LatencyHistogram& h = stats.pools[0].fetch_time;
  h.Record(absl::Microseconds(50));   // <= 0.1 ms
  h.Record(absl::Milliseconds(3));    // <= 5 ms
  h.Record(absl::Milliseconds(3));    // <= 5 ms
  h.Record(absl::Seconds(100));       // beyond 60 s: +Inf only
  auto families = exporter.Render(stats);
  const prometheus::MetricFamily* f = Find(families, "fetchpool_fetch_seconds");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->type, prometheus::MetricType::Histogram);
  ASSERT_EQ(f->metric.size(), 1u);
  const auto& hist = f->metric[0].histogram;
  EXPECT_EQ(hist.sample_count, 4u);
  EXPECT_NEAR(hist.sample_sum, 0.00005 + 0.003 + 0.003 + 100, 1e-9);
  ASSERT_EQ(hist.bucket.size(), LatencyHistogram::kBuckets);
  std::map<double, uint64_t> by_bound;
  for (const auto& b : hist.bucket) by_bound[b.upper_bound] = b.cumulative_count;
  EXPECT_EQ(by_bound[0.0001], 1u);
  EXPECT_EQ(by_bound[0.0025], 1u);
  EXPECT_EQ(by_bound[0.005], 3u);
  EXPECT_EQ(by_bound[60], 3u);
  EXPECT_EQ(hist.bucket.back().cumulative_count, 4u);
  EXPECT_TRUE(std::isinf(hist.bucket.back().upper_bound));
  const prometheus::MetricFamily* build = Find(families, "fetchpool_build_info");
  ASSERT_NE(build, nullptr);
  EXPECT_EQ(build->metric.at(0).label.at(0).value, "1.2.3-test");
  EXPECT_EQ(build->metric.at(0).gauge.value, 1);
}

TEST_F(RenderTest, LabeledHostsStayLabeledWhilePoolsComeAndGo) {
  MetricsExporter& exporter = Exporter(2);
  EXPECT_EQ(Hosts(exporter.Render(Stats({"http://c:80", "http://b:80"}))),
            (std::set<std::string>{"http://b:80", "http://c:80"}));
  // A new host that sorts first does not push out a labeled one.
  auto families = exporter.Render(Stats({"http://a:80", "http://b:80", "http://c:80"}));
  EXPECT_EQ(Hosts(families), (std::set<std::string>{"http://b:80", "http://c:80", "_other"}));
  EXPECT_EQ(Find(families, "fetchpool_metrics_hosts_overflow")->metric.at(0).gauge.value, 1);
  // When b's pool goes, a gets the free label.
  families = exporter.Render(Stats({"http://a:80", "http://c:80", "http://d:80"}));
  EXPECT_EQ(Hosts(families), (std::set<std::string>{"http://a:80", "http://c:80", "_other"}));
  // _other: counters and gauges summed.
  for (const auto& m : Find(families, "fetchpool_requests_total")->metric) {
    EXPECT_EQ(m.counter.value, 10);
  }
  EXPECT_EQ(Find(families, "fetchpool_pools")->metric.at(0).gauge.value, 3);
}

TEST_F(RenderTest, ZeroCapFoldsEverything) {
  MetricsExporter& exporter = Exporter(0);
  auto families = exporter.Render(Stats({"http://a:80", "http://b:80", "http://c:80"}));
  EXPECT_EQ(Hosts(families), std::set<std::string>{"_other"});
  EXPECT_EQ(Find(families, "fetchpool_requests_total")->metric.at(0).counter.value, 30);
  EXPECT_EQ(Find(families, "fetchpool_idle_connections")->metric.at(0).gauge.value, 3);
  EXPECT_EQ(Find(families, "fetchpool_metrics_hosts_overflow")->metric.at(0).gauge.value, 3);
}

TEST_F(RenderTest, DefaultCapKeeps1000HostsAndFoldsTheRest) {
  MetricsExporter::Options options;
  EXPECT_EQ(options.max_host_labels, 1000u);
  MetricsExporter& exporter = Exporter(options.max_host_labels);
  std::vector<std::string> hosts;
  for (int i = 0; i < 1200; ++i) hosts.push_back(absl::StrCat("http://h", 10000 + i, ":80"));
  Engine::StatsResult stats = Stats(hosts);
  for (auto& pool : stats.pools) pool.fetch_time.Record(absl::Milliseconds(3));
  const absl::Time start = absl::Now();
  auto families = exporter.Render(stats);
  const std::string text = prometheus::TextSerializer().Serialize(families);
  const absl::Duration took = absl::Now() - start;
  std::set<std::string> labels = Hosts(families);
  EXPECT_EQ(labels.size(), 1001u);
  EXPECT_EQ(labels.count("_other"), 1u);
  EXPECT_EQ(Find(families, "fetchpool_metrics_hosts_overflow")->metric.at(0).gauge.value, 200);
  // Informational: what a scrape of 1,200 pools costs past the snapshot.
  std::printf("[figures] render+serialize 1200 pools: %s, %zu bytes\n",
              absl::FormatDuration(took).c_str(), text.size());
}

TEST_F(RenderTest, NoPoolsNoHostSeries) {
  MetricsExporter& exporter = Exporter(10);
  auto families = exporter.Render(Stats({}));
  EXPECT_TRUE(Hosts(families).empty());
  EXPECT_EQ(Find(families, "fetchpool_metrics_hosts_overflow")->metric.at(0).gauge.value, 0);
  EXPECT_EQ(Find(families, "fetchpool_pools")->metric.at(0).gauge.value, 0);
}

}  // namespace
}  // namespace fetchpool::testing
