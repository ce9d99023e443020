// scale_client: the gRPC side of bench/scale_e2e/run.sh, through the C++ SDK
// (client-sdk/cpp). Each mode prints one flat JSON object on stdout.
//
//   scale_client --mode=burst --url=http://127.0.0.1:P/sleep?ms=1000 --requests=10000
//       all --requests unary Fetch calls started at once over --channels
//       channels; wall time from the first send to the last answer, answers
//       by outcome, and (--probe_after) one Stats call while they run, which
//       shows how many reached fetchpool's pools at the same time.
//   scale_client --mode=hosts --hosts=10000 --port=P --concurrency=200 [--live_hosts=K --closed_port=Q]
//       one GET to each of http://127.0.A.B:P/ (A = 1 + i / 250,
//       B = 1 + i % 250), --concurrency in flight: one pool per host. With
//       --live_hosts, hosts from K on use port Q instead, where nothing
//       listens: their pools are created and stay empty (CONNECT_REFUSED).
//   scale_client --mode=stats --repeat=20
//       Stats of all pools, --repeat times one after another: latency of the
//       whole RPC (send to decoded response), what it reported, its size and
//       how long decoding it takes here.
//   scale_client --mode=wait --until=idle_connections|pools --at_most=N --wait_max=90s
//       polls Stats until totals.idle_connections (or pool_count) <= N.
//
// --watch_pid=PID (burst, hosts) samples /proc/PID/status every 20 ms while
// the calls run: the most threads and RSS seen, and VmHWM at the end.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client-sdk/cpp/client_status.h"
#include "fetchpool/client.h"

ABSL_FLAG(std::string, mode, "burst", "burst | hosts | stats | wait");
ABSL_FLAG(std::string, target, "127.0.0.1:50051", "fetchpoold address");
ABSL_FLAG(int, channels, 4, "gRPC channels (one HTTP/2 connection each) to spread calls over");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30), "per-call deadline");
ABSL_FLAG(int, watch_pid, 0, "sample this process's threads and RSS while the calls run");
// burst
ABSL_FLAG(std::string, url, "", "burst: the URL every call fetches");
ABSL_FLAG(int, requests, 10000, "burst: calls, all started at once");
ABSL_FLAG(absl::Duration, probe_after, absl::Milliseconds(500),
          "burst: one Stats call this long after the first send (0: none)");
// hosts
ABSL_FLAG(int, hosts, 10000, "hosts: distinct hosts 127.0.A.B to fetch from, one GET each");
ABSL_FLAG(int, port, 0, "hosts: the origin's port");
ABSL_FLAG(int, concurrency, 200, "hosts: calls in flight");
ABSL_FLAG(int, live_hosts, -1, "hosts: only the first this many use --port (-1: all)");
ABSL_FLAG(int, closed_port, 9, "hosts: the port of the other hosts (nothing listens there)");
// stats, wait
ABSL_FLAG(int, repeat, 20, "stats: Stats calls to time");
ABSL_FLAG(std::string, until, "pools", "wait: idle_connections | pools");
ABSL_FLAG(int64_t, at_most, 0, "wait: stop when the value is at most this");
ABSL_FLAG(absl::Duration, wait_max, absl::Seconds(90), "wait: give up after this long");

namespace {

using fetchpool::Client;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;
using fetchpool::v1::StatsResponse;

// One flat JSON object, fields in the order they were added.
class JsonOut {
 public:
  void Num(const std::string& key, double v) { Add(key, absl::StrFormat("%.10g", v)); }
  void Str(const std::string& key, const std::string& v) { Add(key, absl::StrCat("\"", v, "\"")); }
  void Print() const { std::printf("{%s}\n", absl::StrJoin(fields_, ",").c_str()); }

 private:
  void Add(const std::string& key, const std::string& value) {
    fields_.push_back(absl::StrCat("\"", key, "\":", value));
  }
  std::vector<std::string> fields_;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1) + 0.5))];
}

// Clients on distinct channels: distinct channel arguments keep gRPC from
// sharing one HTTP/2 connection between them.
std::vector<std::unique_ptr<Client>> MakeClients(int count) {
  std::vector<std::unique_ptr<Client>> clients;
  fetchpool::ClientOptions options;
  options.default_timeout = absl::GetFlag(FLAGS_timeout);
  for (int i = 0; i < std::max(1, count); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("scale_client.channel", i);
    args.SetMaxReceiveMessageSize(options.max_receive_message_size);
    clients.push_back(std::make_unique<Client>(
        grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials(),
                                  args),
        options));
  }
  return clients;
}

// Samples /proc/PID/status in the background: most threads and RSS seen.
class ProcWatch {
 public:
  explicit ProcWatch(int pid) : pid_(pid) {
    if (pid_ > 0) thread_ = std::thread([this] { Run(); });
  }
  ~ProcWatch() { Stop(); }

  void Stop() {
    if (!thread_.joinable()) return;
    stop_.Notify();
    thread_.join();
  }

  void Report(JsonOut& out) {
    if (pid_ <= 0) return;
    Stop();
    out.Num("server_threads_max", max_threads_);
    out.Num("server_rss_max_kib", max_rss_kib_);
    out.Num("server_hwm_kib", Field("VmHWM:"));
    out.Num("server_samples", samples_);
  }

 private:
  long Field(const std::string& name) const {
    std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind(name, 0) != 0) continue;
      long v = 0;
      std::string digits;
      for (char c : line.substr(name.size())) {
        if (c >= '0' && c <= '9') digits += c;
      }
      absl::SimpleAtoi(digits, &v);
      return v;
    }
    return 0;
  }

  void Run() {
    do {
      max_threads_ = std::max(max_threads_, Field("Threads:"));
      max_rss_kib_ = std::max(max_rss_kib_, Field("VmRSS:"));
      ++samples_;
    } while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  }

  const int pid_;
  std::thread thread_;
  absl::Notification stop_;
  long max_threads_ = 0;
  long max_rss_kib_ = 0;
  long samples_ = 0;
};

double Ms(const google::protobuf::Duration& d) { return d.seconds() * 1e3 + d.nanos() / 1e6; }

// Outcomes of finished Fetch calls, and where fetchpool says the time of the
// successful ones went (FetchResponse.timing).
class Tally {
 public:
  void Add(const absl::StatusOr<FetchResponse>& result, double latency_ms) {
    absl::MutexLock lock(&mu_);
    latencies_ms_.push_back(latency_ms);
    if (result.ok()) {
      const fetchpool::v1::FetchTiming& t = result->timing();
      phases_ms_["queue_wait"].push_back(Ms(t.queue_wait()));
      phases_ms_["connect"].push_back(Ms(t.connect()));
      phases_ms_["first_byte"].push_back(Ms(t.first_byte()));
      phases_ms_["server_total"].push_back(Ms(t.total()));
      if (result->status() == 200) {
        ++ok_;
      } else {
        ++outcomes_[absl::StrCat("HTTP_", result->status())];
      }
      if (result->connection_reused()) ++reused_;
      return;
    }
    const std::string reason = fetchpool::ErrorReason(result.status());
    ++outcomes_[absl::StrCat(absl::StatusCodeToString(result.status().code()),
                             reason.empty() ? "" : "/", reason)];
    if (first_error_.empty()) first_error_ = std::string(result.status().message());
  }

  void Report(JsonOut& out) {
    absl::MutexLock lock(&mu_);
    std::sort(latencies_ms_.begin(), latencies_ms_.end());
    out.Num("answers", latencies_ms_.size());
    out.Num("ok", ok_);
    out.Num("reused", reused_);
    std::vector<std::string> errors;
    for (const auto& [what, n] : outcomes_) errors.push_back(absl::StrCat(what, "=", n));
    out.Str("errors", errors.empty() ? "none" : absl::StrJoin(errors, " "));
    std::string first = first_error_.substr(0, 160);
    std::replace(first.begin(), first.end(), '"', '\'');
    out.Str("first_error", first);
    out.Num("p50_ms", Percentile(latencies_ms_, 0.5));
    out.Num("p99_ms", Percentile(latencies_ms_, 0.99));
    out.Num("max_ms", latencies_ms_.empty() ? 0 : latencies_ms_.back());
    for (auto& [phase, ms] : phases_ms_) {
      std::sort(ms.begin(), ms.end());
      out.Num(phase + "_p50_ms", Percentile(ms, 0.5));
      out.Num(phase + "_max_ms", ms.back());
    }
  }

 private:
  absl::Mutex mu_;
  std::vector<double> latencies_ms_ ABSL_GUARDED_BY(mu_);
  int64_t ok_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reused_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> outcomes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<double>> phases_ms_ ABSL_GUARDED_BY(mu_);
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

// Counts down finished calls; Wait() returns when all `total` are in.
class Countdown {
 public:
  explicit Countdown(int total) : left_(total) {
    if (total <= 0) done_.Notify();
  }
  void One() {
    if (left_.fetch_sub(1) == 1) done_.Notify();
  }
  bool Wait(absl::Duration limit) { return done_.WaitForNotificationWithTimeout(limit); }

 private:
  std::atomic<int> left_;
  absl::Notification done_;
};

void AddStatsTotals(const StatsResponse& stats, const std::string& prefix, JsonOut& out) {
  const fetchpool::v1::HostPoolStats& t = stats.totals();
  out.Num(prefix + "pools", stats.pool_count());
  out.Num(prefix + "busy", t.busy_connections());
  out.Num(prefix + "connecting", t.connecting_connections());
  out.Num(prefix + "idle", t.idle_connections());
  out.Num(prefix + "waiting", t.wait_queue_length());
  out.Num(prefix + "opened_total", t.connections_opened_total());
  out.Num(prefix + "requests_total", t.requests_total());
}

// Prints `out`. When calls are still in flight their callbacks refer to
// this frame's locals: leave without unwinding it.
int Finish(const JsonOut& out, bool all_answered) {
  out.Print();
  if (all_answered) return 0;
  std::fflush(stdout);
  std::_Exit(1);
}

int RunBurst() {
  const int total = absl::GetFlag(FLAGS_requests);
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  std::vector<std::unique_ptr<Client>> clients = MakeClients(absl::GetFlag(FLAGS_channels));
  // Connect every channel first, so the burst does not include connecting.
  for (auto& c : clients) {
    if (!c->Stats("", absl::Seconds(10)).ok()) {
      std::fprintf(stderr, "scale_client: fetchpoold at %s does not answer\n",
                   absl::GetFlag(FLAGS_target).c_str());
      return 2;
    }
  }
  FetchRequest request;
  request.set_url(absl::GetFlag(FLAGS_url));
  Tally tally;
  Countdown countdown(total);
  ProcWatch watch(absl::GetFlag(FLAGS_watch_pid));
  std::atomic<int64_t> last_answer_ns{0};
  const absl::Time start = absl::Now();
  for (int i = 0; i < total; ++i) {
    clients[i % clients.size()]->FetchAsync(
        request, timeout, [&, start](absl::StatusOr<FetchResponse> result) {
          const absl::Duration since = absl::Now() - start;
          tally.Add(result, absl::ToDoubleMilliseconds(since));
          int64_t ns = absl::ToInt64Nanoseconds(since);
          int64_t prev = last_answer_ns.load();
          while (ns > prev && !last_answer_ns.compare_exchange_weak(prev, ns)) {
          }
          countdown.One();
        });
  }
  const double launch_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  JsonOut out;
  const absl::Duration probe_after = absl::GetFlag(FLAGS_probe_after);
  if (probe_after > absl::ZeroDuration()) {
    absl::SleepFor(start + probe_after - absl::Now());
    absl::StatusOr<StatsResponse> probe = clients[0]->Stats("", absl::Seconds(10));
    out.Num("probe_at_ms", absl::ToDoubleMilliseconds(absl::Now() - start));
    if (probe.ok()) AddStatsTotals(*probe, "probe_", out);
  }
  const bool all = countdown.Wait(timeout + absl::Seconds(10));
  watch.Stop();
  out.Num("requests", total);
  out.Num("channels", clients.size());
  out.Num("launch_ms", launch_ms);
  out.Num("wall_ms", static_cast<double>(last_answer_ns.load()) / 1e6);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  out.Num("client_cpu_s", usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                              (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6);
  out.Num("all_answered", all);
  tally.Report(out);
  watch.Report(out);
  absl::StatusOr<StatsResponse> after = clients[0]->Stats("", absl::Seconds(10));
  if (after.ok()) AddStatsTotals(*after, "after_", out);
  return Finish(out, all);
}

int RunHosts() {
  const int hosts = absl::GetFlag(FLAGS_hosts);
  const int port = absl::GetFlag(FLAGS_port);
  const int live = absl::GetFlag(FLAGS_live_hosts) < 0 ? hosts : absl::GetFlag(FLAGS_live_hosts);
  const int closed_port = absl::GetFlag(FLAGS_closed_port);
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  std::vector<std::unique_ptr<Client>> clients = MakeClients(absl::GetFlag(FLAGS_channels));
  Tally tally;
  Countdown countdown(hosts);
  ProcWatch watch(absl::GetFlag(FLAGS_watch_pid));
  std::atomic<int> next{0};
  const absl::Time start = absl::Now();
  // Closed loop: each answer starts the next host's fetch.
  std::function<void()> launch = [&] {
    const int i = next.fetch_add(1);
    if (i >= hosts) return;
    FetchRequest request;
    request.set_url(absl::StrCat("http://127.0.", 1 + i / 250, ".", 1 + i % 250, ":",
                                 i < live ? port : closed_port, "/"));
    const absl::Time sent = absl::Now();
    clients[i % clients.size()]->FetchAsync(
        request, timeout, [&, sent](absl::StatusOr<FetchResponse> result) {
          tally.Add(result, absl::ToDoubleMilliseconds(absl::Now() - sent));
          launch();
          countdown.One();
        });
  };
  for (int i = 0; i < std::min(hosts, absl::GetFlag(FLAGS_concurrency)); ++i) launch();
  const bool all = countdown.Wait(absl::Seconds(120));
  JsonOut out;
  out.Num("hosts", hosts);
  out.Num("live_hosts", live);
  out.Num("wall_ms", absl::ToDoubleMilliseconds(absl::Now() - start));
  out.Num("all_answered", all);
  tally.Report(out);
  watch.Report(out);
  return Finish(out, all);
}

int RunStats() {
  Client client(absl::GetFlag(FLAGS_target));
  std::vector<double> ms;
  absl::StatusOr<StatsResponse> last;
  for (int i = 0; i < absl::GetFlag(FLAGS_repeat); ++i) {
    const absl::Time t = absl::Now();
    last = client.Stats("", absl::Seconds(10));
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    if (!last.ok()) {
      std::fprintf(stderr, "scale_client: Stats: %s\n", last.status().ToString().c_str());
      return 1;
    }
  }
  std::sort(ms.begin(), ms.end());
  // The client's own share of each call: decoding the response.
  const std::string wire = last->SerializeAsString();
  std::vector<double> parse_ms;
  for (int i = 0; i < 5; ++i) {
    StatsResponse copy;
    const absl::Time t = absl::Now();
    copy.ParseFromString(wire);
    parse_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
  }
  std::sort(parse_ms.begin(), parse_ms.end());
  JsonOut out;
  out.Num("calls", ms.size());
  out.Num("median_ms", Percentile(ms, 0.5));
  out.Num("min_ms", ms.empty() ? 0 : ms.front());
  out.Num("max_ms", ms.empty() ? 0 : ms.back());
  out.Num("response_bytes", last->ByteSizeLong());
  out.Num("client_parse_ms", Percentile(parse_ms, 0.5));
  AddStatsTotals(*last, "", out);
  out.Print();
  return 0;
}

int RunWait() {
  Client client(absl::GetFlag(FLAGS_target));
  const bool pools = absl::GetFlag(FLAGS_until) == "pools";
  const absl::Time start = absl::Now();
  const absl::Time give_up = start + absl::GetFlag(FLAGS_wait_max);
  absl::StatusOr<StatsResponse> stats;
  int64_t value = -1;
  do {
    if (value >= 0) absl::SleepFor(absl::Milliseconds(500));
    stats = client.Stats("", absl::Seconds(10));
    if (!stats.ok()) continue;
    value = pools ? stats->pool_count() : stats->totals().idle_connections();
  } while ((value < 0 || value > absl::GetFlag(FLAGS_at_most)) && absl::Now() < give_up);
  JsonOut out;
  out.Num("reached", value >= 0 && value <= absl::GetFlag(FLAGS_at_most));
  out.Num("waited_ms", absl::ToDoubleMilliseconds(absl::Now() - start));
  if (stats.ok()) AddStatsTotals(*stats, "", out);
  out.Print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "burst" && !absl::GetFlag(FLAGS_url).empty()) return RunBurst();
  if (mode == "hosts" && absl::GetFlag(FLAGS_port) > 0) return RunHosts();
  if (mode == "stats") return RunStats();
  if (mode == "wait") return RunWait();
  std::fprintf(stderr, "scale_client: need --mode=burst --url=..., --mode=hosts --port=..., "
                       "--mode=stats or --mode=wait\n");
  return 2;
}
