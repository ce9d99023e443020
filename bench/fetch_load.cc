// fetch_load: an async gRPC load client for fetchpoold.
//
//   fetch_load --target=127.0.0.1:50051 --url=http://127.0.0.1:8080/echo \
//              --requests=1000 --concurrency=64 [--rate=0] [--body_bytes=0] [--json]
//
// Closed loop by default (`concurrency` calls in flight); with --rate=N it is
// open loop: calls start on a fixed schedule and latency is measured from
// the intended start, so a stalled server cannot hide its queueing
// (coordinated omission).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "fetchpoold address");
ABSL_FLAG(std::string, url, "", "URL every call fetches");
ABSL_FLAG(int, requests, 1000, "calls to make");
ABSL_FLAG(int, concurrency, 64, "calls in flight (closed loop)");
ABSL_FLAG(double, rate, 0, "calls per second (open loop); 0 = closed loop");
ABSL_FLAG(int, channels, 1, "gRPC channels to spread calls over");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30), "per-call deadline");
ABSL_FLAG(bool, json, false, "print one JSON object instead of text");
ABSL_FLAG(int, body_bytes, 0, "with N > 0, every call is a POST with an N-byte body");

namespace {

using fetchpool::v1::FetchPool;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;

struct Results {
  absl::Mutex mu;
  std::vector<double> latencies_us ABSL_GUARDED_BY(mu);
  int64_t ok ABSL_GUARDED_BY(mu) = 0;
  int64_t http_errors ABSL_GUARDED_BY(mu) = 0;
  int64_t rpc_errors ABSL_GUARDED_BY(mu) = 0;
  int64_t reused ABSL_GUARDED_BY(mu) = 0;
  std::string first_error ABSL_GUARDED_BY(mu);
};

class Load {
 public:
  Load(std::vector<std::unique_ptr<FetchPool::Stub>> stubs, FetchRequest request, int total)
      : stubs_(std::move(stubs)), request_(std::move(request)), total_(total) {}

  // Starts one call; `intended` is when it should have started.
  void Launch(absl::Time intended) {
    const int index = launched_.fetch_add(1);
    if (index >= total_) return;
    auto* call = new Call;
    call->intended = intended;
    call->context.set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_timeout)));
    FetchPool::Stub* stub = stubs_[index % stubs_.size()].get();
    stub->async()->Fetch(&call->context, &request_, &call->response,
                         [this, call](grpc::Status status) { OnDone(call, status); });
  }

  void WaitAll() { all_done_.WaitForNotification(); }
  Results& results() { return results_; }
  bool closed_loop = true;

 private:
  struct Call {
    grpc::ClientContext context;
    FetchResponse response;
    absl::Time intended;
  };

  void OnDone(Call* call, const grpc::Status& status) {
    const double us = absl::ToDoubleMicroseconds(absl::Now() - call->intended);
    {
      absl::MutexLock lock(&results_.mu);
      results_.latencies_us.push_back(us);
      if (!status.ok()) {
        ++results_.rpc_errors;
        if (results_.first_error.empty()) results_.first_error = status.error_message();
      } else if (call->response.status() >= 400) {
        ++results_.http_errors;
      } else {
        ++results_.ok;
      }
      if (status.ok() && call->response.connection_reused()) ++results_.reused;
    }
    delete call;
    if (closed_loop) Launch(absl::Now());
    if (finished_.fetch_add(1) + 1 == total_) all_done_.Notify();
  }

  std::vector<std::unique_ptr<FetchPool::Stub>> stubs_;
  const FetchRequest request_;
  const int total_;
  std::atomic<int> launched_{0};
  std::atomic<int> finished_{0};
  absl::Notification all_done_;
  Results results_;
};

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1) + 0.5));
  return sorted[i];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string url = absl::GetFlag(FLAGS_url);
  if (url.empty()) {
    std::fprintf(stderr, "fetch_load: --url is required\n");
    return 2;
  }
  const int total = absl::GetFlag(FLAGS_requests);
  std::vector<std::unique_ptr<FetchPool::Stub>> stubs;
  for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_channels)); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("fetch_load.channel", i);  // distinct args: distinct connections
    args.SetMaxReceiveMessageSize(64 << 20);
    stubs.push_back(FetchPool::NewStub(grpc::CreateCustomChannel(
        absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials(), args)));
  }
  FetchRequest request;
  request.set_url(url);
  if (const int body_bytes = absl::GetFlag(FLAGS_body_bytes); body_bytes > 0) {
    request.set_method("POST");
    request.set_body(std::string(static_cast<size_t>(body_bytes), 'b'));
  }
  Load load(std::move(stubs), request, total);
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Time start = absl::Now();
  if (rate <= 0) {
    for (int i = 0; i < std::min(total, absl::GetFlag(FLAGS_concurrency)); ++i) load.Launch(start);
  } else {
    load.closed_loop = false;
    const absl::Duration interval = absl::Seconds(1.0 / rate);
    for (int i = 0; i < total; ++i) {
      const absl::Time intended = start + interval * i;
      const absl::Duration wait = intended - absl::Now();
      if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
      load.Launch(intended);
    }
  }
  load.WaitAll();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  Results& r = load.results();
  absl::MutexLock lock(&r.mu);
  std::sort(r.latencies_us.begin(), r.latencies_us.end());
  const double p50 = Percentile(r.latencies_us, 0.50);
  const double p90 = Percentile(r.latencies_us, 0.90);
  const double p99 = Percentile(r.latencies_us, 0.99);
  const double max = r.latencies_us.empty() ? 0 : r.latencies_us.back();
  if (absl::GetFlag(FLAGS_json)) {
    std::printf(
        "{\"requests\":%d,\"ok\":%lld,\"http_errors\":%lld,\"rpc_errors\":%lld,\"reused\":%lld,"
        "\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
        "\"max_us\":%.1f}\n",
        total, static_cast<long long>(r.ok), static_cast<long long>(r.http_errors),
        static_cast<long long>(r.rpc_errors), static_cast<long long>(r.reused), seconds,
        total / seconds, p50, p90, p99, max);
  } else {
    std::printf("%d calls in %.3f s: %.0f calls/s\n", total, seconds, total / seconds);
    std::printf("ok %lld, HTTP >= 400 %lld, gRPC errors %lld, on reused connections %lld\n",
                static_cast<long long>(r.ok), static_cast<long long>(r.http_errors),
                static_cast<long long>(r.rpc_errors), static_cast<long long>(r.reused));
    std::printf("latency us: p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n", p50, p90, p99, max);
    if (!r.first_error.empty()) std::printf("first error: %s\n", r.first_error.c_str());
  }
  return r.rpc_errors == 0 ? 0 : 1;
}
