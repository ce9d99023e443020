// drain_client: the load and the checks of tests/server/lifecycle/drain_test.sh
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
#include "tests/server/lifecycle/client_util.h"

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

using fetchpool::lifecycle::Check;
using fetchpool::lifecycle::HealthStatus;
using fetchpool::lifecycle::Outcomes;
using fetchpool::lifecycle::Sleep;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;


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
  fetchpool::lifecycle::RawUnaryLoad load(channel, &outcomes);
  for (int i = 0; i < unary; ++i) {
    load.Start(Sleep(origin, fetch_ms), absl::Seconds(absl::GetFlag(FLAGS_max_seconds)));
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
  Check(fetchpool::lifecycle::WaitForRequests(client, static_cast<uint64_t>(total), absl::Seconds(10)),
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
  // (A call fetchpoold took is answered; one made after the delay would get
  // UNAVAILABLE: so success is the proof, as long as it started inside.)
  bool served_in_delay = true;
  if (!cut && delay >= absl::Milliseconds(200)) {
    const absl::Duration started = absl::Now() - signalled;
    absl::StatusOr<FetchResponse> quick = client.Fetch(Sleep(origin, 0), absl::Seconds(2));
    served_in_delay = quick.ok() && quick->status() == 200;
    Check(started < delay / 2, absl::StrCat("the call meant for the drain delay started only ",
                                            absl::FormatDuration(started), " after SIGTERM"));
    Check(served_in_delay, absl::StrCat("a call during the drain delay was not served: ",
                                        quick.ok() ? absl::StrCat("HTTP ", quick->status())
                                                   : quick.status().ToString()));
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
  outcomes.WaitForAnswers(total, signalled + absl::Seconds(absl::GetFlag(FLAGS_max_seconds)) -
                                     absl::Now());
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

  const std::string tally = outcomes.Tally();
  absl::MutexLock lock(&outcomes.mu);
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
  return fetchpool::lifecycle::Failures() == 0 ? 0 : 1;
}
