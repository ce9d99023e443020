// soak_driver: the load, the checks and the report of bench/soak/run.sh, a
// soak test of the real fetchpoold.
//
//   soak_driver --target=127.0.0.1:PORT --pid=FETCHPOOLD_PID
//               --normal_origin=http://127.0.0.1:P1 --idle_origin=http://127.0.0.1:P2
//               --slow_origin=http://127.0.0.1:P3 [--refused_origin=http://127.0.0.1:P4]
//               --duration=600s --report=bench/results/soak.md --samples=soak-samples.tsv
//
// For --duration it runs, concurrently and each bounded:
//   - unary Fetch calls at --unary_rate, mixed routes of the fault origins
//     (OK bodies checked byte for byte, 404, /reset, /truncate,
//     /reset_mid_body, /close, /sleep and /slowbody past the call deadline or
//     request_timeout, a body over max_response_bytes, a small pool that
//     queues, a port where nothing listens), plus a burst every ~1 s to an
//     origin that closes idle connections after 1 s;
//   - --streams FetchStream calls at a time, each --stream_rate fetches/s with
//     at most --stream_window in flight, living 3-12 s, a quarter of them
//     cancelled mid-way;
//   - Stats calls at --stats_rate, and --watchers WatchStats streams at a
//     time (100-500 ms interval, ended by a cancel or by their deadline);
//   - caller cancels: --cancel_fraction of the unary calls at a random time
//     (0-400 ms), a tenth of the Stats calls.
// Checks:
//   - every call, and every fetch id of a stream, gets exactly one answer: an
//     OK response (whose id and body match the request) or an error with a
//     `fetchpool-reason` (or the stream's own end, for fetches still open when
//     a stream is cancelled); a call with a generous deadline that ends on the
//     client's deadline counts as a hang; nothing is outstanding at the end;
//   - every StatsResponse (the sampler's, the Stats load's and every WatchStats
//     message) holds, per pool: busy + idle + connecting <= max_connections,
//     idle <= max_idle_connections, waiters only while nothing is idle and the
//     pool is at its cap, opened - closed == busy + idle + connecting;
//   - after the load, every pool returns to busy = connecting = waiting = 0;
//   - every --sample_interval, fetchpoold's VmRSS, Threads (/proc/PID/status)
//     and open descriptors (/proc/PID/fd): the average over the last window
//     must stay within the margins of the first window's (after --warmup).
// Prints a markdown report (also to --report) and exits 0 on PASS, 1 on FAIL,
// 2 on bad flags.
//
// The pieces, in bench/soak/: options.h (the command line, read here),
// routes (the mix of fetches and what each must get), unary_call,
// fetch_stream_call and stats_calls (one reactor per RPC kind), scheduler
// (starts them at their rates, then drains), invariants (what counts as a
// violation: Stats invariants, answer checks), ledger (every start, answer and
// violation), proc_sampler (/proc and Stats every --sample_interval), report
// (the verdict and the markdown) and self_test (--self_test).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/soak/invariants.h"
#include "bench/soak/ledger.h"
#include "bench/soak/options.h"
#include "bench/soak/proc_sampler.h"
#include "bench/soak/report.h"
#include "bench/soak/routes.h"
#include "bench/soak/scheduler.h"
#include "bench/soak/self_test.h"
#include "bench/soak/stats_calls.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

// The flags stay in this file: absl's --help lists only the flags defined in
// the file named after the binary (soak_driver.cc); the rest of the driver
// gets their values as an Options.
ABSL_FLAG(std::string, target, "", "fetchpoold's gRPC address (127.0.0.1:PORT)");
ABSL_FLAG(int, pid, 0, "fetchpoold's pid, sampled in /proc/PID");
ABSL_FLAG(std::string, normal_origin, "", "base URL of the fault origin (pool with the default cap)");
ABSL_FLAG(std::string, idle_origin, "", "base URL of the origin that closes idle connections after ~1 s");
ABSL_FLAG(std::string, slow_origin, "", "base URL of the origin behind the small pool");
ABSL_FLAG(std::string, refused_origin, "", "base URL where nothing listens (optional)");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(600), "how long the load runs");
ABSL_FLAG(absl::Duration, sample_interval, absl::Seconds(2), "resource and Stats sampling period");
ABSL_FLAG(absl::Duration, warmup, absl::ZeroDuration(),
          "samples before this are outside the first window; 0 = 10 s (5 s for runs under 2 min)");
ABSL_FLAG(absl::Duration, window, absl::ZeroDuration(),
          "length of the first and last windows; 0 = 60 s, or a quarter of a run under 4 min");
ABSL_FLAG(double, unary_rate, 100, "unary Fetch calls per second (the idle-origin bursts come on top)");
ABSL_FLAG(int, idle_burst, 8, "calls per burst to --idle_origin (about one burst a second)");
ABSL_FLAG(int, streams, 3, "FetchStream calls open at a time");
ABSL_FLAG(double, stream_rate, 25, "fetches per second on each FetchStream");
ABSL_FLAG(int, stream_window, 8, "fetches in flight per FetchStream at most");
ABSL_FLAG(int, watchers, 2, "WatchStats streams open at a time");
ABSL_FLAG(double, stats_rate, 3, "Stats calls per second (besides the sampler's)");
ABSL_FLAG(double, cancel_fraction, 0.05, "share of unary Fetch calls the caller cancels");
ABSL_FLAG(int, max_unary_in_flight, 400, "unary calls in flight at most (beyond: skipped, counted)");
ABSL_FLAG(absl::Duration, drain, absl::Seconds(30), "longest wait for outstanding calls after the load");
ABSL_FLAG(absl::Duration, settle, absl::Seconds(15),
          "longest wait, after the load, for every pool to have nothing busy, connecting or waiting");
ABSL_FLAG(double, rss_margin_fraction, 0.20, "allowed RSS growth, first to last window (fraction)");
ABSL_FLAG(double, rss_margin_mib, 20, "allowed RSS growth in MiB, if larger than the fraction");
ABSL_FLAG(double, fd_margin, 16, "allowed growth of the average open descriptors");
ABSL_FLAG(double, thread_margin, 4, "allowed growth of the average thread count");
ABSL_FLAG(std::string, report, "", "write the markdown report here too");
ABSL_FLAG(std::string, samples, "", "write every sample here (TSV)");
ABSL_FLAG(std::string, setup, "", "one line describing the set-up, for the report");
ABSL_FLAG(uint64_t, seed, 0, "random seed; 0 = from the clock");
ABSL_FLAG(bool, self_test, false,
          "only check that the checks catch what they should (crafted Stats and answers), then exit");

namespace fetchpool::soak {
namespace {

using fetchpool::v1::FetchPool;
using fetchpool::v1::StatsResponse;

// The flags into `o` (and the origins into origins[]). Returns 0, or 2 with a
// message on stderr when they are missing or do not fit.
int ReadOptions(Options* o) {
  o->target = absl::GetFlag(FLAGS_target);
  o->pid = absl::GetFlag(FLAGS_pid);
  origins[kNormal] = absl::GetFlag(FLAGS_normal_origin);
  origins[kIdle] = absl::GetFlag(FLAGS_idle_origin);
  origins[kSlow] = absl::GetFlag(FLAGS_slow_origin);
  origins[kRefused] = absl::GetFlag(FLAGS_refused_origin);
  o->duration = absl::GetFlag(FLAGS_duration);
  if (o->target.empty() || o->pid <= 0 || origins[kNormal].empty() || origins[kIdle].empty() ||
      origins[kSlow].empty() || o->duration < absl::Seconds(20)) {
    std::fprintf(stderr,
                 "soak_driver: --target, --pid, --normal_origin, --idle_origin and --slow_origin are required, "
                 "--duration at least 20s\n");
    return 2;
  }
  const double dur_s = absl::ToDoubleSeconds(o->duration);
  o->window = absl::GetFlag(FLAGS_window);
  if (o->window == absl::ZeroDuration()) o->window = dur_s >= 240 ? absl::Seconds(60) : o->duration / 4;
  o->warmup = absl::GetFlag(FLAGS_warmup);
  if (o->warmup == absl::ZeroDuration()) o->warmup = dur_s >= 120 ? absl::Seconds(10) : absl::Seconds(5);
  const double win_s = absl::ToDoubleSeconds(o->window), warm_s = absl::ToDoubleSeconds(o->warmup);
  if (warm_s + win_s > dur_s - win_s) {
    std::fprintf(stderr, "soak_driver: warm-up + two windows do not fit in the duration\n");
    return 2;
  }
  o->sample_interval = absl::GetFlag(FLAGS_sample_interval);
  o->unary_rate = absl::GetFlag(FLAGS_unary_rate);
  o->idle_burst = absl::GetFlag(FLAGS_idle_burst);
  o->streams = absl::GetFlag(FLAGS_streams);
  o->stream_rate = absl::GetFlag(FLAGS_stream_rate);
  o->stream_window = absl::GetFlag(FLAGS_stream_window);
  o->watchers = absl::GetFlag(FLAGS_watchers);
  o->stats_rate = absl::GetFlag(FLAGS_stats_rate);
  o->cancel_fraction = absl::GetFlag(FLAGS_cancel_fraction);
  o->max_unary_in_flight = absl::GetFlag(FLAGS_max_unary_in_flight);
  o->drain = absl::GetFlag(FLAGS_drain);
  o->settle = absl::GetFlag(FLAGS_settle);
  o->rss_margin_fraction = absl::GetFlag(FLAGS_rss_margin_fraction);
  o->rss_margin_mib = absl::GetFlag(FLAGS_rss_margin_mib);
  o->fd_margin = absl::GetFlag(FLAGS_fd_margin);
  o->thread_margin = absl::GetFlag(FLAGS_thread_margin);
  o->report = absl::GetFlag(FLAGS_report);
  o->samples = absl::GetFlag(FLAGS_samples);
  o->setup = absl::GetFlag(FLAGS_setup);
  o->seed = absl::GetFlag(FLAGS_seed);
  if (o->seed == 0) o->seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  return 0;
}

// ---- settle: every pool gives its capacity back ----
// Polls Stats until no pool has anything busy, connecting or waiting (a
// violation if that takes longer than o.settle).
void AwaitSettled(const Options& o, FetchPool::Stub* stub, RunSummary* run) {
  const absl::Time t0 = absl::Now();
  const absl::Time until = t0 + o.settle;
  std::string& settle_state = run->settle_state;
  while (true) {
    StatsResponse r;
    bool quiet = SyncStats(stub, &r, absl::Seconds(5));
    if (quiet) CheckStats(r, "sampler");
    settle_state.clear();
    for (const auto& p : r.pools()) {
      if (p.busy_connections() || p.connecting_connections() || p.wait_queue_length()) {
        quiet = false;
        absl::StrAppend(&settle_state, p.host(), " busy ", p.busy_connections(), " connecting ",
                        p.connecting_connections(), " waiting ", p.wait_queue_length(), "; ");
      }
    }
    if (quiet) {
      run->final_totals = r.totals();
      run->settle_s = absl::ToDoubleSeconds(absl::Now() - t0);
      break;
    }
    if (absl::Now() >= until) {
      ledger->Violation("capacity not returned after the load (stranded)", settle_state);
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

int RunSoak(const Options& o) {
  std::mt19937_64 rng(o.seed);
  Ledger the_ledger;
  ledger = &the_ledger;
  const std::vector<Route> routes = MakeRoutes();
  const Route idle_burst_route = MakeIdleBurstRoute();

  // Three channels (three HTTP/2 connections): unary and Stats on one,
  // streams on another, the sampler's calls on the third.
  auto channel = [&](int i) {
    grpc::ChannelArguments args;
    args.SetInt("soak.channel", i);
    return grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args);
  };
  auto stub = FetchPool::NewStub(channel(0));
  auto stream_stub = FetchPool::NewStub(channel(1));
  auto sampler_stub = FetchPool::NewStub(channel(2));
  {
    StatsResponse r;
    if (!SyncStats(stub.get(), &r, absl::Seconds(10))) {
      std::fprintf(stderr, "soak_driver: no Stats answer from %s\n", o.target.c_str());
      return 1;
    }
  }

  RunSummary run;
  run.start = absl::Now();
  const absl::Time end = run.start + o.duration;
  std::fprintf(stderr, "soak_driver: %s of load on %s (fetchpoold pid %d), seed %" PRIu64 "\n",
               absl::FormatDuration(o.duration).c_str(), o.target.c_str(), o.pid, o.seed);

  Sampler sampler(sampler_stub.get(), o.pid, run.start, o.sample_interval);
  std::atomic<bool> stop_sampler{false};
  std::thread sampler_thread([&] { sampler.Run(&stop_sampler); });

  const absl::Time load_end =
      RunLoad(o, routes, idle_burst_route, stub.get(), stream_stub.get(), sampler, rng, run.start, end);
  run.drain_s = absl::ToDoubleSeconds(absl::Now() - load_end);
  stop_sampler = true;
  sampler_thread.join();

  for (int k = 0; k < kNumKinds; ++k) {
    run.outstanding[k] = ledger->Outstanding(static_cast<Kind>(k));
    if (run.outstanding[k] != 0) {
      ledger->Violation("calls without an answer at the end",
                        absl::StrCat(kKindNames[k], ": ", run.outstanding[k], " after ", run.drain_s, " s of drain"));
    }
  }

  AwaitSettled(o, sampler_stub.get(), &run);
  ReadProc(o.pid, &run.final_sample);
  run.samples = sampler.samples();

  const bool pass = Report(o, run);
  // Calls still outstanding (only after a failed drain) hold reactors gRPC
  // may still call: leave without running destructors.
  std::fflush(nullptr);
  if (ledger->TotalOutstanding() > 0) std::_Exit(pass ? 0 : 1);
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace fetchpool::soak

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_self_test)) return fetchpool::soak::SelfTest();
  fetchpool::soak::Options o;
  if (const int rc = fetchpool::soak::ReadOptions(&o); rc != 0) return rc;
  return fetchpool::soak::RunSoak(o);
}
