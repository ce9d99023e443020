// drain_client: the load and the checks of tests/server/drain/drain_test.sh
// (issue 13, "Drain, proven"), against a real fetchpoold process that it
// sends SIGTERM to itself, so the timings start at the signal.
//
//   --scenario=complete  --unary N unary fetches and --streams S FetchStreams
//       of --per_stream fetches, each --fetch_ms long, plus one WatchStats,
//       all in flight at SIGTERM. Checks: health reads NOT_SERVING within
//       --max_not_serving_ms; a call made during the drain delay succeeds;
//       a call made after it fails UNAVAILABLE; every loaded fetch completes
//       OK; the WatchStats ends UNAVAILABLE / SHUTTING_DOWN.
//   --scenario=cut  the same load with fetches longer than the grace period,
//       more than fetchpoold's --max_connections_per_host (--connections), so
//       some are running and the rest queued when the grace ends. Checks,
//       unary and streamed alike, within --max_seconds: every queued fetch
//       fails UNAVAILABLE / SHUTTING_DOWN; a running one, whose request the
//       origin has already received, fails UNAVAILABLE / ABORTED_AFTER_SEND
//       ("fetchpool is shutting down"), the reason that tells a caller not to
//       replay a request that may not be idempotent (issue 12).
//
// Prints one JSON line of figures; exits 1 when a check fails.
#include <signal.h>
#include <sys/types.h>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fetchpool/client.h"
#include "fetchpool/error_reason.h"
#include "fetchpool/fetch_stream.h"
#include "fetchpool/stats_watch.h"

ABSL_FLAG(std::string, scenario, "complete", "complete | cut");
ABSL_FLAG(std::string, target, "", "fetchpoold's host:port");
ABSL_FLAG(int, pid, 0, "fetchpoold's pid: SIGTERM goes there");
ABSL_FLAG(std::string, origin, "", "the test origin's host:port");
ABSL_FLAG(int, unary, 200, "unary fetches in flight at SIGTERM");
ABSL_FLAG(int, streams, 2, "FetchStreams in flight at SIGTERM");
ABSL_FLAG(int, per_stream, 100, "fetches on each FetchStream");
ABSL_FLAG(int, fetch_ms, 1000, "how long the origin takes to answer each fetch");
ABSL_FLAG(int, drain_delay_ms, 300, "fetchpoold's --drain_delay");
ABSL_FLAG(int, max_not_serving_ms, 100, "health must read NOT_SERVING within this");
ABSL_FLAG(int, max_seconds, 30, "every fetch must be answered within this after SIGTERM");
ABSL_FLAG(int, connections, 0, "cut: fetchpoold's --max_connections_per_host");

namespace {

using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;

int failures = 0;
void Check(bool ok, const std::string& what) {
  if (ok) return;
  ++failures;
  std::fprintf(stderr, "drain_client: FAIL: %s\n", what.c_str());
}

// grpc.health.v1.Health/Check for service "" through the generic stub: the
// request is the empty message, the answer `status` (field 1, varint):
// 1 SERVING, 2 NOT_SERVING. -1 when the call fails.
int HealthStatus(grpc::GenericStub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  grpc::ByteBuffer request(nullptr, 0);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status s) { done.set_value(std::move(s)); });
  if (!done.get_future().get().ok()) return -1;
  grpc::Slice slice;
  if (!response.DumpToSingleSlice(&slice).ok()) return -1;
  if (slice.size() == 0) return 0;  // UNKNOWN, the default, is not sent
  if (slice.size() != 2 || slice.begin()[0] != 0x08) return -1;
  return slice.begin()[1];
}

FetchRequest Sleep(const std::string& origin, int ms) {
  FetchRequest request;
  request.set_url(absl::StrCat("http://", origin, "/sleep?ms=", ms));
  return request;
}

struct Outcomes {
  absl::Mutex mu;
  int ok ABSL_GUARDED_BY(mu) = 0;
  int shutting_down ABSL_GUARDED_BY(mu) = 0;
  int aborted_after_send ABSL_GUARDED_BY(mu) = 0;
  int other ABSL_GUARDED_BY(mu) = 0;
  std::string first_other ABSL_GUARDED_BY(mu);
  int answered ABSL_GUARDED_BY(mu) = 0;

  // `reason`: the fetch's stable reason, when the caller read it already.
  void Add(const absl::StatusOr<FetchResponse>& result, std::string reason = "") {
    if (!result.ok() && reason.empty()) reason = fetchpool::ErrorReason(result.status());
    const bool unavailable =
        !result.ok() && result.status().code() == absl::StatusCode::kUnavailable;
    absl::MutexLock lock(&mu);
    ++answered;
    if (result.ok() && result->status() == 200) {
      ++ok;
    } else if (unavailable && reason == "SHUTTING_DOWN") {
      ++shutting_down;
    } else if (unavailable && reason == "ABORTED_AFTER_SEND") {
      ++aborted_after_send;
    } else {
      ++other;
      if (first_other.empty()) {
        first_other = result.ok() ? absl::StrCat("HTTP ", result->status())
                                  : result.status().ToString();
      }
    }
  }
};

// Fetches requests_total of every pool have reached `n`: all are in flight.
bool WaitForRequests(fetchpool::Client& client, uint64_t n, absl::Duration limit) {
  const absl::Time give_up = absl::Now() + limit;
  while (absl::Now() < give_up) {
    absl::StatusOr<fetchpool::v1::StatsResponse> stats = client.Stats("", absl::Seconds(2));
    if (stats.ok() && stats->totals().requests_total() >= n) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  const bool cut = scenario == "cut";
  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string origin = absl::GetFlag(FLAGS_origin);
  const int unary = absl::GetFlag(FLAGS_unary);
  const int streams = absl::GetFlag(FLAGS_streams);
  const int per_stream = absl::GetFlag(FLAGS_per_stream);
  const int fetch_ms = absl::GetFlag(FLAGS_fetch_ms);
  const absl::Duration delay = absl::Milliseconds(absl::GetFlag(FLAGS_drain_delay_ms));
  const int total = unary + streams * per_stream;

  fetchpool::ClientOptions options;
  options.default_timeout = absl::Seconds(absl::GetFlag(FLAGS_max_seconds));
  fetchpool::Client client(target, options);
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub health(channel);
  Check(HealthStatus(health) == 1, "health does not read SERVING before SIGTERM");

  // The load: every fetch running (or queued) in fetchpoold before SIGTERM.
  Outcomes outcomes;
  // Unary fetches on the raw stub: the SDK would retry those that fail
  // SHUTTING_DOWN (never sent, so safe to send again), and with no other
  // replica here the retry would only hide the answer under test.
  auto stub = fetchpool::v1::FetchPool::NewStub(channel);
  struct UnaryCall {
    grpc::ClientContext context;
    FetchRequest request;
    FetchResponse response;
  };
  std::vector<std::unique_ptr<UnaryCall>> calls;
  for (int i = 0; i < unary; ++i) {
    auto call = std::make_unique<UnaryCall>();
    call->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(absl::GetFlag(FLAGS_max_seconds)));
    call->request = Sleep(origin, fetch_ms);
    UnaryCall* c = call.get();
    stub->async()->Fetch(&c->context, &c->request, &c->response,
                         [c, &outcomes](grpc::Status status) {
                           if (status.ok()) {
                             outcomes.Add(c->response);
                             return;
                           }
                           // The reason, as the SDKs read it: the trailer.
                           std::string reason;
                           for (const auto& [key, value] : c->context.GetServerTrailingMetadata()) {
                             if (key == "fetchpool-reason") reason.assign(value.data(), value.size());
                           }
                           outcomes.Add(absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                                     absl::StrCat(status.error_message(), " [reason ",
                                                                  reason, "]")),
                                        reason);
                         });
    calls.push_back(std::move(call));
  }
  std::vector<std::unique_ptr<fetchpool::FetchStream>> open_streams;
  for (int s = 0; s < streams; ++s) {
    open_streams.push_back(client.OpenStream(static_cast<size_t>(per_stream)));
    for (int i = 0; i < per_stream; ++i) {
      open_streams.back()->Submit(
          Sleep(origin, fetch_ms),
          [&outcomes](absl::StatusOr<FetchResponse> result) { outcomes.Add(result); });
    }
  }
  std::unique_ptr<fetchpool::StatsWatch> watch = client.WatchStats("", absl::Milliseconds(100));
  std::promise<absl::Status> watch_end;
  std::thread watcher([&] {
    fetchpool::v1::StatsResponse snapshot;
    while (watch->Next(&snapshot)) {
    }
    watch_end.set_value(watch->status());
  });
  Check(WaitForRequests(client, static_cast<uint64_t>(total), absl::Seconds(10)),
        "the load did not reach fetchpoold within 10 s");

  // SIGTERM, then time the health change.
  const absl::Time signalled = absl::Now();
  Check(kill(absl::GetFlag(FLAGS_pid), SIGTERM) == 0, "cannot signal fetchpoold");
  absl::Duration to_not_serving = absl::InfiniteDuration();
  while (absl::Now() - signalled < absl::Seconds(2)) {
    if (HealthStatus(health) == 2) {
      to_not_serving = absl::Now() - signalled;
      break;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  Check(to_not_serving <= absl::Milliseconds(absl::GetFlag(FLAGS_max_not_serving_ms)),
        absl::StrCat("health read NOT_SERVING after ", absl::FormatDuration(to_not_serving)));

  // Inside the delay, fetchpoold still serves new calls; after it, none.
  bool served_in_delay = true;
  if (!cut && delay >= absl::Milliseconds(200)) {
    absl::StatusOr<FetchResponse> quick = client.Fetch(Sleep(origin, 0), absl::Seconds(2));
    served_in_delay = quick.ok() && quick->status() == 200 && absl::Now() - signalled < delay;
    Check(served_in_delay, absl::StrCat("a call during the drain delay was not served: ",
                                        quick.ok() ? "OK" : quick.status().ToString()));
  }
  absl::SleepFor(signalled + delay + absl::Milliseconds(150) - absl::Now());
  grpc::StatusCode after_delay = grpc::StatusCode::OK;
  if (!cut) {
    // A raw call, not the SDK's: the SDK would retry it.
    auto stub = fetchpool::v1::FetchPool::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    FetchRequest request = Sleep(origin, 0);
    FetchResponse response;
    after_delay = stub->Fetch(&context, request, &response).error_code();
    Check(after_delay == grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("a call after the drain delay got code ", after_delay,
                       ", not UNAVAILABLE"));
  }

  // Every loaded fetch is answered.
  const absl::Time give_up = signalled + absl::Seconds(absl::GetFlag(FLAGS_max_seconds));
  for (;;) {
    {
      absl::MutexLock lock(&outcomes.mu);
      if (outcomes.answered >= total) break;
    }
    if (absl::Now() > give_up) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration all_answered = absl::Now() - signalled;
  for (auto& stream : open_streams) stream->Close();
  auto watch_future = watch_end.get_future();
  const bool watch_ended = watch_future.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (!watch_ended) watch->Cancel();
  watcher.join();
  const absl::Status watch_status = watch_future.get();
  Check(watch_ended && watch_status.code() == absl::StatusCode::kUnavailable &&
            fetchpool::ErrorReason(watch_status) == "SHUTTING_DOWN",
        absl::StrCat("WatchStats did not end UNAVAILABLE / SHUTTING_DOWN: ",
                     watch_status.ToString()));

  absl::MutexLock lock(&outcomes.mu);
  const std::string tally =
      absl::StrCat(outcomes.ok, " OK, ", outcomes.shutting_down, " SHUTTING_DOWN, ",
                   outcomes.aborted_after_send, " ABORTED_AFTER_SEND, ", outcomes.other,
                   " other (", outcomes.first_other, ") of ", total);
  if (cut) {
    const int running = absl::GetFlag(FLAGS_connections);
    Check(outcomes.aborted_after_send == running && outcomes.shutting_down == total - running,
          absl::StrCat("want ", running, " running fetches ABORTED_AFTER_SEND and the ",
                       total - running, " queued SHUTTING_DOWN: ", tally));
  } else {
    Check(outcomes.ok == total, absl::StrCat("not every fetch completed OK: ", tally));
  }
  std::printf(
      "{\"scenario\":\"%s\",\"fetches_in_flight\":%d,\"ok\":%d,\"shutting_down\":%d,"
      "\"aborted_after_send\":%d,\"other\":%d,\"not_serving_ms\":%.1f,\"all_answered_ms\":%.0f,"
      "\"served_in_delay\":%s,\"after_delay_code\":%d,\"watch_end\":\"%s\"}\n",
      scenario.c_str(), total, outcomes.ok, outcomes.shutting_down, outcomes.aborted_after_send,
      outcomes.other,
      absl::ToDoubleMilliseconds(to_not_serving), absl::ToDoubleMilliseconds(all_answered),
      served_in_delay ? "true" : "false", static_cast<int>(after_delay),
      fetchpool::ErrorReason(watch_status).c_str());
  return failures == 0 ? 0 : 1;
}
