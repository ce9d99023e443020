// stream_load: gRPC load tool for fetchpoold's FetchStream, plus the no-op
// baseline and a Stats snapshot, for bench/run.sh.
//
//   stream_load --mode=stream --target=127.0.0.1:50051 --url=http://127.0.0.1:8080/
//               --streams=4 --window=16 --duration=10s [--rate=0] [--json]
//   stream_load --mode=health --target=... --streams=4 --window=16 --duration=10s
//   stream_load --mode=stats --target=...
//
// stream: `streams` FetchStream calls (one channel, hence one HTTP/2
//   connection, each), ids chosen here; every response is matched to its
//   request by id, and a response with an unknown or repeated id, an error
//   or a non-2xx status counts as an error.
//   Closed loop (--rate=0): each stream keeps `window` fetches in flight, so
//   streams * window in all; a request is sent as soon as one is answered.
//   Open loop (--rate=N): requests leave on a fixed schedule, spread over the
//   streams in turn (one pacing thread per stream), and latency is measured from the intended send time, so
//   queueing in the client or the server cannot hide (coordinated omission).
// health: unary grpc.health.v1.Health/Check (a no-op RPC on the same server),
//   `streams` channels, `window` calls in flight per channel; same loops.
// stats: one Stats call; prints the totals as JSON (for checking counts).
//
// Throughput counts only answers that arrive within --duration; the
// requests still in flight then are awaited (up to --drain) but not counted.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

ABSL_FLAG(std::string, mode, "stream", "stream | health | stats");
ABSL_FLAG(std::string, target, "127.0.0.1:50051", "fetchpoold address");
ABSL_FLAG(std::string, url, "", "URL every fetch asks for (stream mode)");
ABSL_FLAG(int, streams, 4, "FetchStream calls (stream) or channels (health), one connection each");
ABSL_FLAG(int, window, 16, "requests in flight per stream or channel (closed loop)");
ABSL_FLAG(double, rate, 0, "requests per second in all (open loop); 0 = closed loop");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "how long to send");
ABSL_FLAG(absl::Duration, drain, absl::Seconds(10), "longest wait for answers after --duration");
ABSL_FLAG(bool, json, false, "print one JSON object instead of text");

namespace {

using fetchpool::v1::FetchPool;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;

// What every lane adds to; one lock, taken once per answer.
struct Results {
  std::mutex mu;
  std::vector<double> latencies_us;
  int64_t ok = 0;
  int64_t ok_in_window = 0;
  int64_t errors = 0;       // gRPC errors, FetchError, HTTP >= 300, bad ids
  int64_t sent = 0;
  std::string first_error;

  void Record(absl::Time intended, absl::Time now, absl::Time window_end, bool good,
              const std::string& error) {
    std::lock_guard<std::mutex> lock(mu);
    latencies_us.push_back(absl::ToDoubleMicroseconds(now - intended));
    if (good) {
      ++ok;
      if (now <= window_end) ++ok_in_window;
    } else {
      ++errors;
      if (first_error.empty()) first_error = error;
    }
  }
};

struct Shared {
  Results results;
  absl::Time window_end = absl::InfiniteFuture();
  std::atomic<bool> closed_loop{true};
  std::atomic<bool> stopping{false};
  std::atomic<int> lanes_left{0};
  absl::Notification all_done;

  void LaneDone() {
    if (lanes_left.fetch_sub(1) == 1) all_done.Notify();
  }
};

// A lane is one stream (stream mode) or one channel (health mode).
class Lane {
 public:
  virtual ~Lane() = default;
  virtual void Start(int initial) = 0;
  virtual void Send(absl::Time intended) = 0;  // open loop
  virtual void Stop() = 0;                     // no more sends; finish when answered
};

// ---- stream mode ---------------------------------------------------------

class StreamLane final : public Lane,
                         public grpc::ClientBidiReactor<FetchRequest, FetchResponse> {
 public:
  StreamLane(FetchPool::Stub* stub, Shared* shared, std::string url, int index)
      : stub_(stub), shared_(shared), url_(std::move(url)), prefix_(absl::StrCat(index, "-")) {}

  void Start(int initial) override {
    context_.set_deadline(std::chrono::system_clock::now() +
                          absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_duration) +
                                                    absl::GetFlag(FLAGS_drain) + absl::Seconds(5)));
    stub_->async()->FetchStream(&context_, this);
    const absl::Time now = absl::Now();
    bool write;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int i = 0; i < initial; ++i) QueueLocked(now);
      write = NextWriteLocked();
    }
    StartRead(&response_);
    if (write) StartWrite(&current_);
    StartCall();
  }

  void Send(absl::Time intended) override {
    bool write;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      QueueLocked(intended);
      write = NextWriteLocked();
    }
    if (write) StartWrite(&current_);
  }

  void Stop() override {
    bool close;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      close = CloseLocked();
    }
    if (close) StartWritesDone();
  }

  void OnWriteDone(bool ok) override {
    bool write, close;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok) broken_ = true;  // the call is over; OnDone tells why
      write = NextWriteLocked();
      close = !write && CloseLocked();
    }
    if (write) StartWrite(&current_);
    if (close) StartWritesDone();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the server finished the call; OnDone follows
    const absl::Time now = absl::Now();
    FetchResponse response = std::move(response_);
    StartRead(&response_);
    bool good = !response.has_error() && response.status() >= 200 && response.status() < 300;
    std::string error;
    if (response.has_error()) {
      error = absl::StrCat(response.error().reason(), ": ", response.error().message());
    } else if (!good) {
      error = absl::StrCat("HTTP ", response.status());
    }
    absl::Time intended = now;
    bool write = false, close = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = outstanding_.find(response.id());
      if (it == outstanding_.end()) {
        good = false;
        error = absl::StrCat("answer with an unknown or repeated id \"", response.id(), "\"");
      } else {
        intended = it->second;
        outstanding_.erase(it);
      }
      if (shared_->closed_loop.load() && !stopping_ && !broken_) QueueLocked(now);
      write = NextWriteLocked();
      close = !write && CloseLocked();
    }
    shared_->results.Record(intended, now, shared_->window_end, good, error);
    if (write) StartWrite(&current_);
    if (close) StartWritesDone();
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      const int64_t lost = static_cast<int64_t>(outstanding_.size());
      if (!status.ok() || lost > 0) {
        std::lock_guard<std::mutex> rlock(shared_->results.mu);
        shared_->results.errors += lost;
        if (shared_->results.first_error.empty()) {
          shared_->results.first_error =
              absl::StrCat("stream ended (", status.error_code(), " ", status.error_message(),
                           ") with ", lost, " requests unanswered");
        }
      }
    }
    shared_->LaneDone();
  }

 private:
  void QueueLocked(absl::Time intended) {
    FetchRequest request;
    request.set_url(url_);
    std::string id = absl::StrCat(prefix_, next_id_++);
    request.set_id(id);
    outstanding_.emplace(std::move(id), intended);
    pending_.push_back(std::move(request));
    ++sent_;
    {
      std::lock_guard<std::mutex> rlock(shared_->results.mu);
      ++shared_->results.sent;
    }
  }

  // True when the caller must StartWrite(&current_) (after unlocking).
  bool NextWriteLocked() {
    if (writing_ || pending_.empty() || broken_ || writes_done_) return false;
    current_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    return true;
  }

  // True when the caller must StartWritesDone(): stopped and all answered.
  bool CloseLocked() {
    if (!stopping_ || writes_done_ || writing_ || !pending_.empty()) return false;
    if (!outstanding_.empty() && !broken_) return false;
    writes_done_ = true;
    return true;
  }

  FetchPool::Stub* const stub_;
  Shared* const shared_;
  const std::string url_;
  const std::string prefix_;
  grpc::ClientContext context_;
  FetchResponse response_;  // one read at a time
  FetchRequest current_;    // one write at a time

  std::mutex mu_;
  std::deque<FetchRequest> pending_;
  absl::flat_hash_map<std::string, absl::Time> outstanding_;  // id -> intended send time
  uint64_t next_id_ = 1;
  int64_t sent_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
  bool writes_done_ = false;
  bool broken_ = false;
};

// ---- health mode -----------------------------------------------------------

class HealthLane final : public Lane {
 public:
  HealthLane(std::shared_ptr<grpc::Channel> channel, Shared* shared)
      : stub_(std::move(channel)), shared_(shared) {
    grpc::Slice empty("");
    request_ = grpc::ByteBuffer(&empty, 1);
  }

  void Start(int initial) override {
    const absl::Time now = absl::Now();
    for (int i = 0; i < initial; ++i) Send(now);
  }

  void Send(absl::Time intended) override {
    if (stopping_.load()) return;
    in_flight_.fetch_add(1);
    {
      std::lock_guard<std::mutex> rlock(shared_->results.mu);
      ++shared_->results.sent;
    }
    auto* call = new Call;
    call->intended = intended;
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    stub_.UnaryCall(&call->context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_,
                    &call->response, [this, call](grpc::Status status) { OnAnswer(call, status); });
  }

  void Stop() override {
    stopping_.store(true);
    // The last answer reports the lane done; if none is in flight, do it here.
    if (in_flight_.fetch_add(0) == 0 && !reported_.exchange(true)) shared_->LaneDone();
  }

 private:
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer response;
    absl::Time intended;
  };

  void OnAnswer(Call* call, const grpc::Status& status) {
    const absl::Time now = absl::Now();
    shared_->results.Record(call->intended, now, shared_->window_end, status.ok(),
                            absl::StrCat(status.error_code(), " ", status.error_message()));
    delete call;
    if (shared_->closed_loop.load() && !stopping_.load()) Send(now);
    if (in_flight_.fetch_sub(1) == 1 && stopping_.load() && !reported_.exchange(true)) {
      shared_->LaneDone();
    }
  }

  grpc::GenericStub stub_;
  Shared* const shared_;
  grpc::ByteBuffer request_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<bool> reported_{false};
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1) + 0.5));
  return sorted[i];
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int index) {
  grpc::ChannelArguments args;
  args.SetInt("stream_load.channel", index);  // distinct args: distinct connections
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

int RunStats(const std::string& target) {
  auto stub = FetchPool::NewStub(NewChannel(target, 0));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  fetchpool::v1::StatsRequest request;
  fetchpool::v1::StatsResponse response;
  grpc::Status status = stub->Stats(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "stream_load: Stats failed: %s\n", status.error_message().c_str());
    return 1;
  }
  const auto& t = response.totals();
  // Calls the caller cancelled (h2load and ghz cancel what is in flight when
  // their time is up) are not failures of fetchpool.
  uint64_t cancelled = 0;
  auto it = t.errors_by_reason().find("CANCELLED");
  if (it != t.errors_by_reason().end()) cancelled = it->second;
  std::printf(
      "{\"pool_count\":%u,\"requests_total\":%llu,\"failures_total\":%llu,"
      "\"cancelled\":%llu,\"failures_not_cancelled\":%llu,"
      "\"reused_requests_total\":%llu,\"connections_opened_total\":%llu,"
      "\"connections_closed_total\":%llu,\"busy_connections\":%u,\"idle_connections\":%u}\n",
      response.pool_count(), static_cast<unsigned long long>(t.requests_total()),
      static_cast<unsigned long long>(t.failures_total()),
      static_cast<unsigned long long>(cancelled),
      static_cast<unsigned long long>(t.failures_total() - std::min<uint64_t>(cancelled, t.failures_total())),
      static_cast<unsigned long long>(t.reused_requests_total()),
      static_cast<unsigned long long>(t.connections_opened_total()),
      static_cast<unsigned long long>(t.connections_closed_total()), t.busy_connections(),
      t.idle_connections());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const std::string target = absl::GetFlag(FLAGS_target);
  if (mode == "stats") return RunStats(target);
  if (mode != "stream" && mode != "health") {
    std::fprintf(stderr, "stream_load: --mode must be stream, health or stats\n");
    return 2;
  }
  const std::string url = absl::GetFlag(FLAGS_url);
  if (mode == "stream" && url.empty()) {
    std::fprintf(stderr, "stream_load: --url is required in stream mode\n");
    return 2;
  }
  const int lanes_n = std::max(1, absl::GetFlag(FLAGS_streams));
  const int window = std::max(1, absl::GetFlag(FLAGS_window));
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);

  Shared shared;
  shared.closed_loop = rate <= 0;
  shared.lanes_left = lanes_n;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<FetchPool::Stub>> stubs;
  std::vector<std::unique_ptr<Lane>> lanes;
  for (int i = 0; i < lanes_n; ++i) {
    channels.push_back(NewChannel(target, i));
    // Connect first, so connection set-up is not in the measurement.
    if (!channels.back()->WaitForConnected(std::chrono::system_clock::now() +
                                           std::chrono::seconds(10))) {
      std::fprintf(stderr, "stream_load: cannot connect to %s\n", target.c_str());
      return 1;
    }
    if (mode == "stream") {
      stubs.push_back(FetchPool::NewStub(channels.back()));
      lanes.push_back(std::make_unique<StreamLane>(stubs.back().get(), &shared, url, i));
    } else {
      lanes.push_back(std::make_unique<HealthLane>(channels.back(), &shared));
    }
  }

  const absl::Time start = absl::Now();
  shared.window_end = start + duration;
  if (rate <= 0) {
    for (auto& lane : lanes) lane->Start(window);
    absl::SleepFor(shared.window_end - absl::Now());
  } else {
    for (auto& lane : lanes) lane->Start(0);
    // Request i is due at start + i / rate and goes to lane i % lanes. Each
    // lane has its own pacing thread: starting a call costs the sending
    // thread tens of microseconds, and one thread alone would fall behind
    // the schedule at rates the server handles easily.
    const absl::Duration interval = absl::Seconds(1.0 / rate);
    std::vector<std::thread> pacers;
    for (int j = 0; j < lanes_n; ++j) {
      pacers.emplace_back([&, j] {
        prctl(PR_SET_TIMERSLACK, 1UL);  // wake on time, not up to 50 us late
        for (int64_t i = j;; i += lanes_n) {
          const absl::Time intended = start + interval * i;
          if (intended >= shared.window_end) break;
          const absl::Duration wait = intended - absl::Now();
          if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
          lanes[j]->Send(intended);
        }
      });
    }
    for (std::thread& t : pacers) t.join();
  }
  shared.stopping = true;
  for (auto& lane : lanes) lane->Stop();
  const bool drained = shared.all_done.WaitForNotificationWithTimeout(absl::GetFlag(FLAGS_drain));
  const double seconds = absl::ToDoubleSeconds(duration);

  Results& r = shared.results;
  std::lock_guard<std::mutex> lock(r.mu);
  std::sort(r.latencies_us.begin(), r.latencies_us.end());
  const double p50 = Percentile(r.latencies_us, 0.50);
  const double p90 = Percentile(r.latencies_us, 0.90);
  const double p99 = Percentile(r.latencies_us, 0.99);
  const double max = r.latencies_us.empty() ? 0 : r.latencies_us.back();
  // Closed loop: answers within the window per second. Open loop: all
  // answers per second of sending (they were all scheduled in the window).
  const double rps = (rate <= 0 ? r.ok_in_window : r.ok) / seconds;
  const int64_t unanswered = r.sent - r.ok - r.errors;
  if (absl::GetFlag(FLAGS_json)) {
    std::printf(
        "{\"mode\":\"%s\",\"rate\":%.1f,\"sent\":%lld,\"ok\":%lld,\"ok_in_window\":%lld,"
        "\"errors\":%lld,\"unanswered\":%lld,\"drained\":%s,\"seconds\":%.3f,\"rps\":%.1f,"
        "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"first_error\":\"%s\"}\n",
        mode.c_str(), rate, static_cast<long long>(r.sent), static_cast<long long>(r.ok),
        static_cast<long long>(r.ok_in_window), static_cast<long long>(r.errors),
        static_cast<long long>(unanswered), drained ? "true" : "false", seconds, rps, p50, p90,
        p99, max, absl::StrReplaceAll(r.first_error, {{"\"", "'"}, {"\\", "/"}}).c_str());
  } else {
    std::printf("%s: sent %lld, ok %lld (%lld within %.1f s: %.0f/s), errors %lld, unanswered %lld\n",
                mode.c_str(), static_cast<long long>(r.sent), static_cast<long long>(r.ok),
                static_cast<long long>(r.ok_in_window), seconds, rps,
                static_cast<long long>(r.errors), static_cast<long long>(unanswered));
    std::printf("latency us: p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n", p50, p90, p99, max);
    if (!r.first_error.empty()) std::printf("first error: %s\n", r.first_error.c_str());
  }
  // The lanes may still be referenced by gRPC if the drain timed out: exit
  // without destroying them.
  std::fflush(stdout);
  std::_Exit(r.errors == 0 && unanswered == 0 && drained ? 0 : 1);
}
