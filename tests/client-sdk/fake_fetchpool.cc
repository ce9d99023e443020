#include "tests/client-sdk/fake_fetchpool.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <utility>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fetchpool {
namespace testing {
namespace {

using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;
using fetchpool::v1::HostPoolStats;
using fetchpool::v1::StatsResponse;
using fetchpool::v1::WatchStatsRequest;

void SetMicros(google::protobuf::Duration* d, int64_t us) {
  d->set_seconds(us / 1000000);
  d->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
}

void AddHeader(FetchResponse* response, const std::string& name, const std::string& value) {
  auto* header = response->add_headers();
  header->set_name(name);
  header->set_value(value);
}

void FillOk(const FetchRequest& request, int status, std::string body, FetchResponse* response) {
  response->set_status(status);
  response->set_body(std::move(body));
  response->set_http_version("HTTP/1.1");
  response->set_pool("http://origin.test:80");
  response->set_remote_address("127.0.0.1:80");
  response->set_effective_url(request.url());
  response->set_attempts(1);
  response->set_id(request.id());
  response->set_connection_reused(true);
  auto* timing = response->mutable_timing();
  SetMicros(timing->mutable_queue_wait(), 200);
  SetMicros(timing->mutable_dns(), 1200);
  SetMicros(timing->mutable_connect(), 300);
  SetMicros(timing->mutable_first_byte(), 4000);
  SetMicros(timing->mutable_total(), 6000);
}

std::string MetadataValue(const grpc::ServerContext& context, const std::string& key) {
  auto it = context.client_metadata().find(key);
  if (it == context.client_metadata().end()) return "";
  return std::string(it->second.data(), it->second.size());
}

grpc::Status Fail(grpc::ServerContext* context, grpc::StatusCode code, const std::string& reason,
                  const std::string& message) {
  context->AddTrailingMetadata("fetchpool-reason", reason);
  return grpc::Status(code, message);
}

HostPoolStats Pool(const std::string& host, uint32_t max, uint32_t busy, uint32_t idle, uint32_t connecting,
                   uint32_t waiting, uint64_t requests, uint64_t reused, uint64_t opened, uint32_t time_wait,
                   uint64_t wait_timeouts) {
  HostPoolStats p;
  p.set_host(host);
  p.set_max_connections(max);
  p.set_busy_connections(busy);
  p.set_idle_connections(idle);
  p.set_connecting_connections(connecting);
  p.set_wait_queue_length(waiting);
  p.set_requests_total(requests);
  p.set_reused_requests_total(reused);
  p.set_connections_opened_total(opened);
  p.set_time_wait_estimate(time_wait);
  p.set_wait_timeouts_total(wait_timeouts);
  return p;
}

void AddToTotals(const HostPoolStats& p, HostPoolStats* t) {
  t->set_max_connections(t->max_connections() + p.max_connections());
  t->set_busy_connections(t->busy_connections() + p.busy_connections());
  t->set_idle_connections(t->idle_connections() + p.idle_connections());
  t->set_connecting_connections(t->connecting_connections() + p.connecting_connections());
  t->set_wait_queue_length(t->wait_queue_length() + p.wait_queue_length());
  t->set_requests_total(t->requests_total() + p.requests_total());
  t->set_reused_requests_total(t->reused_requests_total() + p.reused_requests_total());
  t->set_connections_opened_total(t->connections_opened_total() + p.connections_opened_total());
  t->set_time_wait_estimate(t->time_wait_estimate() + p.time_wait_estimate());
  t->set_wait_timeouts_total(t->wait_timeouts_total() + p.wait_timeouts_total());
}

// The server's histogram buckets (pool/histogram.h), in ms; one more bucket
// holds larger values.
constexpr std::array<double, 18> kBoundsMs = {0.1, 0.25, 0.5, 1,    2.5,  5,    10,    25,    50,
                                              100, 250,  500, 1000, 2500, 5000, 10000, 30000, 60000};
constexpr size_t kBuckets = kBoundsMs.size() + 1;

// How each snapshot's observations spread over the buckets: {bucket, percent}.
using Shape = std::vector<std::pair<size_t, uint64_t>>;

// A pool in the watch: gauges cycle through four values, counters start
// somewhere and grow each snapshot by the next of four steps.
struct WatchedPool {
  std::string host;
  uint32_t max_connections;
  std::array<uint32_t, 4> busy, idle, waiting;
  uint32_t connecting;
  std::array<uint64_t, 4> oldest_waiter_us;
  uint32_t time_wait_estimate, time_wait_kernel;
  uint64_t requests;
  std::array<uint64_t, 4> requests_step;
  uint64_t reused_per_mille;
  uint64_t opened;
  std::array<uint64_t, 4> opened_step;
  std::array<uint64_t, 4> failures_step;
  std::string failure_reason;
  Shape queue_wait, fetch_time;
};

const std::vector<WatchedPool>& WatchedPools() {
  static const auto* pools = new std::vector<WatchedPool>{
      {"http://api.internal:80", 8, {8, 8, 8, 8}, {0, 0, 0, 0}, {31, 28, 35, 33}, 0,
       {180000, 210000, 260000, 190000}, 2, 2, 1200000, {240, 250, 230, 245}, 975, 30, {0, 1, 0, 1}, {1, 1, 2, 1},
       "WAIT_TIMEOUT", {{7, 40}, {8, 45}, {9, 15}}, {{8, 30}, {9, 60}, {10, 10}}},
      {"http://slow.internal:8080", 2, {2, 2, 2, 2}, {0, 0, 0, 0}, {5, 6, 4, 5}, 0,
       {1900000, 2200000, 1400000, 2000000}, 1, 1, 36000, {3, 2, 3, 3}, 700, 11000, {1, 0, 1, 1}, {0, 1, 0, 1},
       "DEADLINE_EXCEEDED", {{12, 50}, {13, 50}}, {{13, 70}, {14, 30}}},
      {"https://auth.example:443", 4, {1, 2, 1, 1}, {3, 2, 3, 3}, {0, 0, 0, 0}, 0, {0, 0, 0, 0}, 0, 0, 9800000,
       {850, 910, 790, 880}, 999, 12, {0, 0, 0, 0}, {0, 0, 0, 0}, "", {{0, 100}}, {{6, 80}, {7, 20}}},
      {"http://new.internal:80", 8, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, 1, {0, 0, 0, 0}, 0, 0, 0,
       {0, 0, 0, 0}, 0, 0, {0, 0, 0, 0}, {0, 0, 0, 0}, "", {}, {}},
      {"http://search.svc.cluster.local:9200", 16, {5, 6, 4, 5}, {11, 10, 12, 11}, {0, 0, 0, 0}, 0, {0, 0, 0, 0},
       0, 0, 3100000, {420, 460, 400, 430}, 995, 15500, {2, 2, 2, 2}, {0, 0, 0, 0}, "", {{0, 97}, {1, 3}},
       {{7, 60}, {8, 35}, {9, 5}}},
      {"https://payments.partner-gateway.example.com:443", 4, {0, 1, 0, 0}, {1, 0, 1, 1}, {0, 0, 0, 0}, 0,
       {0, 0, 0, 0}, 41, 43, 52000, {2, 3, 2, 2}, 500, 26000, {1, 1, 1, 1}, {0, 0, 0, 0}, "", {{0, 100}},
       {{10, 70}, {11, 30}}},
  };
  return *pools;
}

// `n` observations spread by `shape`, added to `h`; the rounding remainder
// goes to the shape's first bucket.
void AddObservations(const Shape& shape, uint64_t n, std::array<uint64_t, kBuckets>* h) {
  if (shape.empty() || n == 0) return;
  uint64_t placed = 0;
  for (const auto& [bucket, percent] : shape) {
    (*h)[bucket] += n * percent / 100;
    placed += n * percent / 100;
  }
  (*h)[shape.front().first] += n - placed;
}

// As pool/histogram.cc estimates.
double PercentileMs(const std::array<uint64_t, kBuckets>& buckets, uint64_t count, double p) {
  if (count == 0) return 0;
  const double rank = p * static_cast<double>(count);
  double seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    if (buckets[i] == 0) continue;
    const double lower = i == 0 ? 0 : kBoundsMs[i - 1];
    if (i == kBuckets - 1) return lower;
    if (seen + static_cast<double>(buckets[i]) >= rank) {
      return lower + (kBoundsMs[i] - lower) * std::clamp((rank - seen) / static_cast<double>(buckets[i]), 0.0, 1.0);
    }
    seen += static_cast<double>(buckets[i]);
  }
  return kBoundsMs.back();
}

void FillHistogram(const std::array<uint64_t, kBuckets>& buckets, v1::Histogram* h) {
  h->Clear();
  uint64_t count = 0;
  double sum_ms = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    if (i < kBoundsMs.size()) h->add_upper_bounds_ms(kBoundsMs[i]);
    h->add_bucket_counts(buckets[i]);
    count += buckets[i];
    // Each observation counted at its bucket's middle.
    const double lower = i == 0 ? 0 : kBoundsMs[i - 1];
    const double upper = i < kBoundsMs.size() ? kBoundsMs[i] : lower;
    sum_ms += static_cast<double>(buckets[i]) * (lower + upper) / 2;
  }
  h->set_count(count);
  h->set_sum_ms(sum_ms);
  h->set_p50_ms(PercentileMs(buckets, count, 0.50));
  h->set_p90_ms(PercentileMs(buckets, count, 0.90));
  h->set_p99_ms(PercentileMs(buckets, count, 0.99));
}

HostPoolStats WatchedPoolAt(const WatchedPool& w, int index) {
  const size_t phase = static_cast<size_t>(index) % 4;
  uint64_t requests = w.requests;
  uint64_t opened = w.opened;
  uint64_t failures = 0;
  for (int k = 1; k <= index; ++k) {
    requests += w.requests_step[k % 4];
    opened += w.opened_step[k % 4];
    failures += w.failures_step[k % 4];
  }
  // Before the watch, pools that fail failed once per thousand requests.
  if (!w.failure_reason.empty()) failures += w.requests / 1000;
  HostPoolStats p;
  p.set_host(w.host);
  p.set_max_connections(w.max_connections);
  p.set_max_idle_connections(w.max_connections);
  p.set_busy_connections(w.busy[phase]);
  p.set_idle_connections(w.idle[phase]);
  p.set_connecting_connections(w.connecting);
  p.set_wait_queue_length(w.waiting[phase]);
  p.set_oldest_waiter_age_us(w.waiting[phase] > 0 ? w.oldest_waiter_us[phase] : 0);
  p.set_time_wait_estimate(w.time_wait_estimate);
  p.set_time_wait_kernel(w.time_wait_kernel);
  p.set_requests_total(requests);
  p.set_reused_requests_total(requests * w.reused_per_mille / 1000);
  p.set_connections_opened_total(opened);
  p.set_failures_total(failures);
  if (failures > 0) {
    (*p.mutable_errors_by_reason())[w.failure_reason] = failures;
    if (w.failure_reason == "WAIT_TIMEOUT") p.set_wait_timeouts_total(failures);
  }
  std::array<uint64_t, kBuckets> queue_wait{};
  std::array<uint64_t, kBuckets> fetch_time{};
  // Bucket by bucket as the snapshots grew, so that each step's growth has
  // the pool's shape.
  AddObservations(w.queue_wait, w.requests, &queue_wait);
  AddObservations(w.fetch_time, w.requests, &fetch_time);
  for (int k = 1; k <= index; ++k) {
    AddObservations(w.queue_wait, w.requests_step[k % 4], &queue_wait);
    AddObservations(w.fetch_time, w.requests_step[k % 4], &fetch_time);
  }
  FillHistogram(queue_wait, p.mutable_queue_wait());
  FillHistogram(fetch_time, p.mutable_fetch_time());
  return p;
}

// The server's totals: gauges summed but the oldest waiter (the max),
// counters and histograms summed.
void AddToWatchTotals(const HostPoolStats& p, HostPoolStats* t) {
  t->set_max_connections(t->max_connections() + p.max_connections());
  t->set_max_idle_connections(t->max_idle_connections() + p.max_idle_connections());
  t->set_busy_connections(t->busy_connections() + p.busy_connections());
  t->set_idle_connections(t->idle_connections() + p.idle_connections());
  t->set_connecting_connections(t->connecting_connections() + p.connecting_connections());
  t->set_wait_queue_length(t->wait_queue_length() + p.wait_queue_length());
  t->set_oldest_waiter_age_us(std::max(t->oldest_waiter_age_us(), p.oldest_waiter_age_us()));
  t->set_time_wait_estimate(t->time_wait_estimate() + p.time_wait_estimate());
  t->set_time_wait_kernel(t->time_wait_kernel() + p.time_wait_kernel());
  t->set_requests_total(t->requests_total() + p.requests_total());
  t->set_reused_requests_total(t->reused_requests_total() + p.reused_requests_total());
  t->set_connections_opened_total(t->connections_opened_total() + p.connections_opened_total());
  t->set_failures_total(t->failures_total() + p.failures_total());
  t->set_wait_timeouts_total(t->wait_timeouts_total() + p.wait_timeouts_total());
  for (const auto& [reason, count] : p.errors_by_reason()) (*t->mutable_errors_by_reason())[reason] += count;
  for (auto [from, to] : {std::make_pair(&p.queue_wait(), t->mutable_queue_wait()),
                          std::make_pair(&p.fetch_time(), t->mutable_fetch_time())}) {
    std::array<uint64_t, kBuckets> sum{};
    for (int i = 0; i < to->bucket_counts_size(); ++i) sum[i] = to->bucket_counts(i);
    for (int i = 0; i < from->bucket_counts_size(); ++i) sum[i] += from->bucket_counts(i);
    FillHistogram(sum, to);
  }
}

}  // namespace

std::vector<std::string> WatchedHosts() {
  std::vector<std::string> hosts;
  for (const WatchedPool& w : WatchedPools()) hosts.push_back(w.host);
  return hosts;
}

StatsResponse CannedWatchSnapshot(int index, const std::string& host) {
  StatsResponse stats;
  for (const WatchedPool& w : WatchedPools()) {
    if (!host.empty() && w.host != host) continue;
    *stats.add_pools() = WatchedPoolAt(w, index);
    AddToWatchTotals(stats.pools(stats.pools_size() - 1), stats.mutable_totals());
  }
  if (stats.pools_size() == 0) {
    // The server's totals are never absent, only zero.
    FillHistogram({}, stats.mutable_totals()->mutable_queue_wait());
    FillHistogram({}, stats.mutable_totals()->mutable_fetch_time());
  }
  stats.set_pool_count(static_cast<uint32_t>(WatchedPools().size()));
  return stats;
}

StatsResponse CannedStats() {
  StatsResponse stats;
  *stats.add_pools() = Pool("https://auth.example:443", 4, 1, 3, 0, 0, 5000, 4996, 4, 0, 0);
  *stats.add_pools() = Pool("http://api.internal:80", 8, 8, 0, 0, 31, 1200, 1170, 30, 2, 4);
  *stats.add_pools() = Pool("http://new.internal:80", 8, 0, 0, 1, 0, 0, 0, 0, 0, 0);
  *stats.add_pools() = Pool("http://slow.internal:8080", 2, 2, 0, 0, 5, 10, 7, 3, 1, 9);
  for (const auto& p : stats.pools()) AddToTotals(p, stats.mutable_totals());
  stats.set_pool_count(stats.pools_size());
  return stats;
}

grpc::Status FakeFetchPoolService::Fetch(grpc::ServerContext* context, const FetchRequest* request,
                                         FetchResponse* response) {
  ++fetch_calls_;
  {
    absl::MutexLock lock(&mu_);
    last_request_ = *request;
    last_pool_key_ = MetadataValue(*context, "fetchpool-pool-key");
    last_authorization_ = MetadataValue(*context, "authorization");
    if (fail_next_ > 0) {
      --fail_next_;
      if (!fail_reason_.empty()) context->AddTrailingMetadata("fetchpool-reason", fail_reason_);
      return grpc::Status(fail_code_, "failed on purpose by the fake");
    }
  }
  const std::string& url = request->url();
  if (url == kOkUrl) {
    FillOk(*request, 200, kOkBody, response);
    AddHeader(response, "Content-Type", "text/plain");
    AddHeader(response, "X-Fake", "1");
    return grpc::Status::OK;
  }
  if (url == kEchoUrl) {
    FillOk(*request, 200, request->body(), response);
    AddHeader(response, "X-Method", request->method());
    for (const auto& h : request->headers()) AddHeader(response, h.name(), h.value());
    return grpc::Status::OK;
  }
  if (url == kNotFoundUrl) {
    FillOk(*request, 404, "not found\n", response);
    return grpc::Status::OK;
  }
  if (url == kRefusedUrl) {
    return Fail(context, grpc::StatusCode::UNAVAILABLE, "CONNECT_REFUSED", kRefusedMessage);
  }
  if (url == kBigUrl) {
    FillOk(*request, 200, std::string(kBigBodySize, 'x'), response);
    return grpc::Status::OK;
  }
  if (url == kSlowUrl) {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < give_up) {
      if (context->IsCancelled()) {
        ++abandoned_slow_calls_;
        return grpc::Status(grpc::StatusCode::CANCELLED, "caller went away");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FillOk(*request, 200, "finally\n", response);
    return grpc::Status::OK;
  }
  return Fail(context, grpc::StatusCode::UNAVAILABLE, "DNS_FAILURE",
              absl::StrCat("DNS_FAILURE: fake knows no ", url));
}

grpc::Status FakeFetchPoolService::Stats(grpc::ServerContext* context, const fetchpool::v1::StatsRequest* request,
                                         StatsResponse* response) {
  StatsResponse all = CannedStats();
  if (request->host().empty()) {
    *response = all;
    return grpc::Status::OK;
  }
  for (const auto& p : all.pools()) {
    if (p.host() != request->host()) continue;
    *response->add_pools() = p;
    AddToTotals(p, response->mutable_totals());
  }
  response->set_pool_count(response->pools_size());
  return grpc::Status::OK;
}

grpc::Status FakeFetchPoolService::WatchStats(grpc::ServerContext* context, const WatchStatsRequest* request,
                                              grpc::ServerWriter<StatsResponse>* writer) {
  {
    absl::MutexLock lock(&mu_);
    last_watch_request_ = *request;
  }
  absl::Duration interval = absl::Seconds(1);
  if (request->has_interval()) {
    interval = absl::Seconds(request->interval().seconds()) + absl::Nanoseconds(request->interval().nanos());
    if (interval < absl::Milliseconds(100) || interval > absl::Minutes(1)) {
      return Fail(context, grpc::StatusCode::INVALID_ARGUMENT, "INVALID_OPTION",
                  absl::StrCat("INVALID_OPTION: interval is ", absl::FormatDuration(interval),
                               "; it must be between 100ms and 1m"));
    }
  }
  const int end_after = end_watches_after_.load();
  for (int index = 0;; ++index) {
    if (end_after > 0 && index == end_after) return grpc::Status::OK;
    if (!writer->Write(CannedWatchSnapshot(index, request->host()))) break;
    ++watch_snapshots_sent_;
    const absl::Time next = absl::Now() + interval;
    while (absl::Now() < next && !context->IsCancelled()) absl::SleepFor(absl::Milliseconds(2));
    if (context->IsCancelled()) break;
  }
  ++cancelled_watches_;
  return grpc::Status(grpc::StatusCode::CANCELLED, "caller went away");
}

WatchStatsRequest FakeFetchPoolService::last_watch_request() const {
  absl::MutexLock lock(&mu_);
  return last_watch_request_;
}

FetchRequest FakeFetchPoolService::last_request() const {
  absl::MutexLock lock(&mu_);
  return last_request_;
}

FakeFetchPoolServer::FakeFetchPoolServer(int port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    // Every test depends on the server, so there is no point going on.
    std::fprintf(stderr, "fake fetchpool: cannot listen on 127.0.0.1:%d\n", port);
    std::abort();
  }
}

FakeFetchPoolServer::~FakeFetchPoolServer() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

std::string FakeFetchPoolServer::target() const { return absl::StrCat("127.0.0.1:", port_); }

}  // namespace testing
}  // namespace fetchpool
