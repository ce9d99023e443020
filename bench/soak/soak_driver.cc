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
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

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

namespace {

using fetchpool::v1::FetchPool;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;
using fetchpool::v1::HostPoolStats;
using fetchpool::v1::StatsRequest;
using fetchpool::v1::StatsResponse;
using fetchpool::v1::WatchStatsRequest;

constexpr char kReasonTrailer[] = "fetchpool-reason";
// A call with a "safety" deadline is expected to be answered by fetchpoold
// long before it: ending on the client's own deadline means a hang.
constexpr absl::Duration kSafetyDeadline = absl::Seconds(15);

std::chrono::system_clock::time_point DeadlineIn(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoNanoseconds(d);
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "CODE?";
  }
}

// ---- the ledger: every start, answer and violation ---------------------------

enum Kind { kUnary, kStreamFetch, kStream, kStats, kWatch, kNumKinds };
const char* const kKindNames[kNumKinds] = {"Fetch (unary)", "FetchStream fetches", "FetchStream calls",
                                           "Stats", "WatchStats"};

struct RouteTally {
  int64_t calls = 0;
  std::map<std::string, int64_t> outcomes;
  int64_t unexpected = 0;  // an outcome the route should not give, but may under load
};

class Ledger {
 public:
  void Started(Kind k) {
    std::lock_guard<std::mutex> l(mu_);
    ++started_[k];
  }
  void Answered(Kind k, const std::string& outcome) {
    std::lock_guard<std::mutex> l(mu_);
    ++answered_[k];
    ++outcomes_[outcome][k];
  }
  void CancelRequested(Kind k) {
    std::lock_guard<std::mutex> l(mu_);
    ++cancels_[k];
  }
  void Skipped(Kind k) {
    std::lock_guard<std::mutex> l(mu_);
    ++skipped_[k];
  }
  void Route(const std::string& route, const std::string& outcome, bool unexpected) {
    std::lock_guard<std::mutex> l(mu_);
    RouteTally& t = routes_[route];
    ++t.calls;
    ++t.outcomes[outcome];
    if (unexpected) ++t.unexpected;
  }
  void Violation(const std::string& what, const std::string& detail) {
    std::lock_guard<std::mutex> l(mu_);
    ++violations_[what];
    if (examples_.size() < 40) {
      examples_.push_back(absl::StrCat(absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone()),
                                       " ", what, ": ", detail));
    }
  }
  // One StatsResponse checked (source: "sampler", "Stats load", "WatchStats").
  void StatsChecked(const std::string& source, int64_t pools, int64_t bad) {
    std::lock_guard<std::mutex> l(mu_);
    auto& s = stats_checks_[source];
    s[0] += 1;
    s[1] += pools;
    s[2] += bad;
  }

  int64_t Outstanding(Kind k) {
    std::lock_guard<std::mutex> l(mu_);
    return started_[k] - answered_[k];
  }
  int64_t TotalOutstanding() {
    std::lock_guard<std::mutex> l(mu_);
    int64_t n = 0;
    for (int k = 0; k < kNumKinds; ++k) n += started_[k] - answered_[k];
    return n;
  }

  // Snapshot access for the report (called after the load, single-threaded).
  std::mutex mu_;
  int64_t started_[kNumKinds] = {};
  int64_t answered_[kNumKinds] = {};
  int64_t cancels_[kNumKinds] = {};
  int64_t skipped_[kNumKinds] = {};
  std::map<std::string, std::array<int64_t, kNumKinds>> outcomes_;
  std::map<std::string, RouteTally> routes_;
  std::map<std::string, int64_t> violations_;
  std::vector<std::string> examples_;
  std::map<std::string, std::array<int64_t, 3>> stats_checks_;  // responses, pool snapshots, bad
};

Ledger* ledger = nullptr;

// The invariants of one StatsResponse, per pool. Returns the pools checked.
void CheckStats(const StatsResponse& r, const std::string& source) {
  int64_t bad = 0;
  for (const HostPoolStats& p : r.pools()) {
    const int64_t live = int64_t{p.busy_connections()} + p.idle_connections() + p.connecting_connections();
    const std::string where =
        absl::StrCat(source, " ", p.host(), ": max ", p.max_connections(), " busy ", p.busy_connections(),
                     " idle ", p.idle_connections(), " connecting ", p.connecting_connections(), " waiting ",
                     p.wait_queue_length(), " opened ", p.connections_opened_total(), " closed ",
                     p.connections_closed_total());
    bool ok = true;
    if (live > int64_t{p.max_connections()}) {
      ledger->Violation("busy + idle + connecting > max_connections", where);
      ok = false;
    }
    if (p.max_idle_connections() > 0 && p.idle_connections() > p.max_idle_connections()) {
      ledger->Violation("idle > max_idle_connections", where);
      ok = false;
    }
    if (p.wait_queue_length() > 0 && p.idle_connections() > 0) {
      ledger->Violation("waiters while a connection is idle", where);
      ok = false;
    }
    if (p.wait_queue_length() > 0 && live < int64_t{p.max_connections()}) {
      ledger->Violation("waiters while the pool is below its cap", where);
      ok = false;
    }
    if (static_cast<int64_t>(p.connections_opened_total() - p.connections_closed_total()) != live) {
      ledger->Violation("opened - closed != busy + idle + connecting", where);
      ok = false;
    }
    if (!ok) ++bad;
  }
  ledger->StatsChecked(source, r.pools_size(), bad);
}

// The outcome label of a finished gRPC call: the `fetchpool-reason`, else the
// code marked as the client's own (its deadline or its cancel). Also checks
// that the trailer and the message prefix agree.
struct Outcome {
  std::string label;
  std::string reason;  // empty: no reason from fetchpoold
};
Outcome OutcomeOf(const grpc::Status& s, const grpc::ClientContext& ctx, const std::string& what) {
  if (s.ok()) return {"OK", ""};
  std::string trailer;
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(kReasonTrailer);
  if (it != md.end()) trailer.assign(it->second.data(), it->second.size());
  std::string prefix;
  const std::string& msg = s.error_message();
  const size_t colon = msg.find(':');
  if (colon != std::string::npos && colon > 0) {
    prefix = msg.substr(0, colon);
    bool all_caps = true;
    for (char c : prefix) all_caps &= (absl::ascii_isupper(c) || c == '_');
    if (!all_caps) prefix.clear();
  }
  if (!trailer.empty() && !prefix.empty() && trailer != prefix) {
    ledger->Violation("reason trailer and message prefix differ",
                      absl::StrCat(what, ": trailer ", trailer, ", message \"", msg, "\""));
  }
  if (!trailer.empty()) return {trailer, trailer};
  if (!prefix.empty()) {
    ledger->Violation("error without a fetchpool-reason trailer", absl::StrCat(what, ": \"", msg, "\""));
    return {prefix, prefix};
  }
  return {absl::StrCat(CodeName(s.error_code()), " (client side)"), ""};
}

// ---- routes ----------------------------------------------------------------------

enum class Expect { kOk, kError, kAny };

struct Prepared {
  FetchRequest request;
  Expect expect = Expect::kOk;
  int want_status = 200;
  int64_t want_length = -1;  // -1: any
  std::string want_body;     // non-empty: exactly this
  absl::Duration deadline = kSafetyDeadline;
  bool tight = false;  // the call deadline is meant to pass: a client-side DEADLINE_EXCEEDED is fine
};

struct Route {
  std::string name;
  int origin;  // index into the origin URLs
  double unary_weight;
  double stream_weight;
  // Fills `p` (the URL path goes after the origin's base URL). `stream`: in a
  // FetchStream, where the call deadline is the stream's, so a "tight" route
  // uses request_timeout instead.
  std::function<void(std::mt19937_64&, bool stream, Prepared* p)> make;
};

int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}
double Uniform01(std::mt19937_64& rng) { return std::uniform_real_distribution<double>(0, 1)(rng); }

void SetPath(Prepared* p, const std::string& base, const std::string& path) {
  p->request.set_url(base + path);
}

void SetDuration(google::protobuf::Duration* d, absl::Duration v) {
  const int64_t ns = absl::ToInt64Nanoseconds(v);
  d->set_seconds(ns / 1000000000);
  d->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

// A call that must outlive its deadline: tight gRPC deadline (unary), or
// request_timeout (stream).
void PastDeadline(Prepared* p, bool stream, absl::Duration bound) {
  p->expect = Expect::kError;
  if (stream) {
    SetDuration(p->request.mutable_request_timeout(), bound);
  } else {
    p->deadline = bound;
    p->tight = true;
  }
}

enum OriginIndex { kNormal, kIdle, kSlow, kRefused, kNumOrigins };
std::string origins[kNumOrigins];

std::vector<Route> MakeRoutes() {
  std::vector<Route> r;
  auto add = [&](std::string name, int origin, double uw, double sw,
                 std::function<void(std::mt19937_64&, bool, Prepared*)> make) {
    if (origins[origin].empty()) return;
    r.push_back({std::move(name), origin, uw, sw, std::move(make)});
  };
  add("GET /bytes (1 B-16 KiB)", kNormal, 30, 40, [](auto& rng, bool, Prepared* p) {
    const int64_t n = Uniform(rng, 1, 16384);
    SetPath(p, origins[kNormal], absl::StrCat("/bytes?n=", n));
    p->want_length = n;
  });
  add("POST /echo", kNormal, 10, 15, [](auto& rng, bool, Prepared* p) {
    p->request.set_method("POST");
    SetPath(p, origins[kNormal], "/echo");
    p->want_body = absl::StrCat("token-", p->request.id(), "-", Uniform(rng, 0, 1LL << 40));
    p->request.set_body(p->want_body);
  });
  add("GET /status/404", kNormal, 5, 5, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/status/404");
    p->want_status = 404;
    p->want_body = "status 404";
  });
  add("GET /reset", kNormal, 4, 3, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/reset");
    p->expect = Expect::kError;
  });
  add("GET /truncate", kNormal, 3, 3, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/truncate?promise=2000&send=500");
    p->expect = Expect::kError;
  });
  add("GET /reset_mid_body", kNormal, 2, 2, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/reset_mid_body?promise=8000&send=2000");
    p->expect = Expect::kError;
  });
  add("GET /close", kNormal, 4, 3, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/close");
    p->want_body = "closing";
  });
  add("GET /slowbody (~200 ms)", kNormal, 5, 5, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/slowbody?n=2000&interval_ms=25&chunk=250");
    p->want_length = 2000;
  });
  add("GET /sleep 400 ms, deadline 150 ms (drain)", kNormal, 4, 3, [](auto&, bool stream, Prepared* p) {
    SetPath(p, origins[kNormal], "/sleep?ms=400");
    PastDeadline(p, stream, absl::Milliseconds(150));
  });
  add("GET /sleep 400 ms, deadline 150 ms (abort)", kNormal, 2, 2, [](auto&, bool stream, Prepared* p) {
    SetPath(p, origins[kNormal], "/sleep?ms=400");
    p->request.set_deadline_policy(fetchpool::v1::DEADLINE_POLICY_ABORT);
    PastDeadline(p, stream, absl::Milliseconds(150));
  });
  add("GET /sleep 400 ms, request_timeout 120 ms", kNormal, 3, 2, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/sleep?ms=400");
    SetDuration(p->request.mutable_request_timeout(), absl::Milliseconds(120));
    p->expect = Expect::kError;
  });
  add("GET /slowbody 1 s, deadline 300 ms", kNormal, 3, 2, [](auto&, bool stream, Prepared* p) {
    SetPath(p, origins[kNormal], "/slowbody?n=6000&interval_ms=50&chunk=300");
    PastDeadline(p, stream, absl::Milliseconds(300));
  });
  add("GET /bytes 64 KiB, max_response_bytes 4 KiB", kNormal, 2, 2, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/bytes?n=65536");
    p->request.set_max_response_bytes(4096);
    p->expect = Expect::kError;
  });
  // The idle-closing origin: mostly the bursts (see Scheduler), a little here.
  add("idle-close origin: GET /bytes 256", kIdle, 0, 3, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kIdle], "/bytes?n=256");
    p->want_length = 256;
  });
  // The small pool: more demand than its cap serves, so it queues.
  add("small pool: GET /sleep 40-250 ms", kSlow, 20, 10, [](auto& rng, bool, Prepared* p) {
    SetPath(p, origins[kSlow], absl::StrCat("/sleep?ms=", Uniform(rng, 40, 250)));
    p->want_body = "slept";
    p->expect = Expect::kAny;
  });
  add("small pool: GET /sleep 40-250 ms, wait_timeout 100 ms", kSlow, 5, 3, [](auto& rng, bool, Prepared* p) {
    SetPath(p, origins[kSlow], absl::StrCat("/sleep?ms=", Uniform(rng, 40, 250)));
    SetDuration(p->request.mutable_wait_timeout(), absl::Milliseconds(100));
    p->want_body = "slept";
    p->expect = Expect::kAny;
  });
  add("refused port", kRefused, 1, 1, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kRefused], "/");
    p->expect = Expect::kError;
  });
  return r;
}

std::vector<Route> routes;
Route idle_burst_route;

// Checks an OK answer's body against what the route promised. Returns an
// empty string when it matches.
std::string BodyMismatch(const Prepared& p, const FetchResponse& r) {
  if (r.status() != p.want_status) return absl::StrCat("HTTP ", r.status(), ", want ", p.want_status);
  if (p.want_length >= 0 && static_cast<int64_t>(r.body().size()) != p.want_length) {
    return absl::StrCat("body of ", r.body().size(), " bytes, want ", p.want_length);
  }
  if (!p.want_body.empty() && r.body() != p.want_body) {
    return absl::StrCat("body \"", r.body().substr(0, 60), "\", want \"", p.want_body, "\"");
  }
  return "";
}

// Judges one fetch's answer, for unary calls and stream fetches alike.
// `error_reason`: empty for an OK FetchResponse.
void JudgeFetch(Kind kind, const Route& route, const Prepared& p, const FetchResponse* ok_response,
                const Outcome& outcome, bool cancelled_by_us) {
  const std::string what = absl::StrCat(kKindNames[kind], " ", p.request.id(), " ", route.name);
  std::string label = outcome.label;
  bool unexpected = false;
  if (ok_response != nullptr) {
    label = absl::StrCat("OK: HTTP ", ok_response->status());
    if (ok_response->id() != p.request.id()) {
      ledger->Violation("answer carries another call's id",
                        absl::StrCat(what, ": got id \"", ok_response->id(), "\""));
    }
    if (p.expect == Expect::kError) {
      ledger->Violation("OK answer for a route that cannot succeed", what);
    } else {
      const std::string mismatch = BodyMismatch(p, *ok_response);
      if (!mismatch.empty()) ledger->Violation("OK answer with the wrong status or body", what + ": " + mismatch);
    }
  } else {
    if (outcome.reason.empty()) {
      // The client's own deadline or cancel.
      if (absl::StartsWith(label, "CANCELLED") && !cancelled_by_us) {
        ledger->Violation("CANCELLED without a caller cancel", what);
      }
      if (absl::StartsWith(label, "DEADLINE_EXCEEDED") && !p.tight) {
        ledger->Violation("no answer before the call's safety deadline (hang)",
                          absl::StrCat(what, " (deadline ", absl::FormatDuration(p.deadline), ")"));
      }
    } else if (outcome.reason == "INTERNAL") {
      ledger->Violation("INTERNAL error", what);
    } else if (outcome.reason == "CANCELLED" && !cancelled_by_us) {
      ledger->Violation("CANCELLED without a caller cancel", what);
    }
    if (p.expect == Expect::kOk && !cancelled_by_us) unexpected = true;
  }
  ledger->Answered(kind, label);
  ledger->Route(route.name, label, unexpected);
}

// ---- cancels ---------------------------------------------------------------------

// Calls the scheduler cancels at a set time. Holding a shared_ptr keeps the
// ClientContext alive; TryCancel after the call finished does nothing.
class Cancellable {
 public:
  virtual ~Cancellable() = default;
  virtual void Cancel() = 0;
};
struct PendingCancel {
  absl::Time at;
  std::shared_ptr<Cancellable> call;
  bool operator>(const PendingCancel& o) const { return at > o.at; }
};
std::priority_queue<PendingCancel, std::vector<PendingCancel>, std::greater<PendingCancel>> cancels;  // scheduler only

// ---- unary Fetch -----------------------------------------------------------------

std::atomic<int64_t> unary_in_flight{0};
std::atomic<int64_t> next_id{1};

class UnaryCall final : public grpc::ClientUnaryReactor,
                        public Cancellable,
                        public std::enable_shared_from_this<UnaryCall> {
 public:
  UnaryCall(const Route& route, Prepared p) : route_(route), p_(std::move(p)) {}

  void Start(FetchPool::Stub* stub) {
    self_ = shared_from_this();
    ctx_.set_deadline(DeadlineIn(p_.deadline));
    ledger->Started(kUnary);
    ++unary_in_flight;
    stub->async()->Fetch(&ctx_, &p_.request, &response_, this);
    StartCall();
  }

  void Cancel() override {
    if (done_.load()) return;
    cancelled_ = true;
    ledger->CancelRequested(kUnary);
    ctx_.TryCancel();
  }

  void OnDone(const grpc::Status& status) override {
    if (done_.exchange(true)) {
      ledger->Violation("two answers for one call", p_.request.id());
      return;
    }
    const Outcome outcome = OutcomeOf(status, ctx_, absl::StrCat("Fetch ", p_.request.id(), " ", route_.name));
    JudgeFetch(kUnary, route_, p_, status.ok() ? &response_ : nullptr, outcome, cancelled_.load());
    --unary_in_flight;
    std::shared_ptr<UnaryCall> keep = std::move(self_);  // may be the last reference
  }

 private:
  const Route& route_;
  Prepared p_;
  FetchResponse response_;
  grpc::ClientContext ctx_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> done_{false};
  std::shared_ptr<UnaryCall> self_;
};

// ---- FetchStream ----------------------------------------------------------------

class StreamCall final : public grpc::ClientBidiReactor<FetchRequest, FetchResponse>,
                         public std::enable_shared_from_this<StreamCall> {
 public:
  StreamCall(int serial, absl::Duration lifetime, bool cancel_midway, int window)
      : serial_(serial), lifetime_(lifetime), cancel_midway_(cancel_midway), window_(window) {}

  void Start(FetchPool::Stub* stub) {
    self_ = shared_from_this();
    started_at_ = absl::Now();
    ends_at_ = started_at_ + lifetime_;
    ctx_.set_deadline(DeadlineIn(lifetime_ + kSafetyDeadline));
    ledger->Started(kStream);
    stub->async()->FetchStream(&ctx_, this);
    StartRead(&read_);
    AddHold();  // sends come from the scheduler, outside the reactions
    StartCall();
  }

  absl::Time ends_at() const { return ends_at_; }
  bool cancel_midway() const { return cancel_midway_; }

  // Scheduler thread, before Close/Cancel only. Returns false when the window is full.
  bool Send(std::mt19937_64& rng, const Route& route) {
    Prepared p;
    p.request.set_id(absl::StrCat("s", serial_, "-", next_id.fetch_add(1)));
    route.make(rng, true, &p);
    bool write = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closing_ || broken_ || static_cast<int>(outstanding_.size()) >= window_) return false;
      queue_.push_back(p.request);
      std::string id = p.request.id();
      outstanding_.emplace(std::move(id), std::make_pair(&route, std::move(p)));
      ledger->Started(kStreamFetch);
      write = NextWriteLocked();
    }
    if (write) StartWrite(&current_);
    return true;
  }

  // Scheduler thread, once: no more sends; half-close when the queue is out.
  void Close() {
    bool done = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      closing_ = true;
      done = CloseLocked();
    }
    if (done) StartWritesDone();
    RemoveHold();
  }

  // Scheduler thread, once, instead of Close: the caller gives up mid-way.
  void Cancel() {
    {
      std::lock_guard<std::mutex> l(mu_);
      closing_ = true;
      cancelled_ = true;
    }
    ledger->CancelRequested(kStream);
    ctx_.TryCancel();
    RemoveHold();
  }

  void OnWriteDone(bool ok) override {
    bool write = false, done = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      writing_ = false;
      if (!ok) broken_ = true;
      write = !broken_ && NextWriteLocked();
      done = !write && CloseLocked();
    }
    if (write) StartWrite(&current_);
    if (done) StartWritesDone();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the call is over; OnDone follows
    FetchResponse r = std::move(read_);
    read_.Clear();
    StartRead(&read_);
    const Route* route = nullptr;
    Prepared p;
    bool cancelled;
    {
      std::lock_guard<std::mutex> l(mu_);
      cancelled = cancelled_;
      auto it = outstanding_.find(r.id());
      if (it != outstanding_.end()) {
        route = it->second.first;
        p = std::move(it->second.second);
        outstanding_.erase(it);
      }
    }
    if (route == nullptr) {
      ledger->Violation("stream answer for an unknown or already answered id",
                        absl::StrCat("stream ", serial_, ": id \"", r.id(), "\""));
      return;
    }
    if (r.has_error()) {
      Outcome o;
      o.reason = r.error().reason();
      o.label = o.reason.empty() ? absl::StrCat("code ", r.error().code(), " (no reason)") : o.reason;
      if (o.reason.empty()) ledger->Violation("stream fetch error without a reason", r.id());
      JudgeFetch(kStreamFetch, *route, p, nullptr, o, cancelled);
    } else {
      JudgeFetch(kStreamFetch, *route, p, &r, Outcome{"OK", ""}, cancelled);
    }
  }

  void OnDone(const grpc::Status& status) override {
    std::vector<std::pair<const Route*, Prepared>> left;
    bool cancelled;
    {
      std::lock_guard<std::mutex> l(mu_);
      cancelled = cancelled_;
      for (auto& [id, v] : outstanding_) left.push_back(std::move(v));
      outstanding_.clear();
    }
    const std::string what = absl::StrCat("FetchStream ", serial_);
    const Outcome outcome = OutcomeOf(status, ctx_, what);
    if (status.ok() && !left.empty()) {
      ledger->Violation("stream ended OK with fetches unanswered", absl::StrCat(what, ": ", left.size()));
    }
    if (!status.ok()) {
      if (status.error_code() == grpc::DEADLINE_EXCEEDED) {
        ledger->Violation("FetchStream hit its safety deadline (hang)", what);
      } else if (status.error_code() == grpc::CANCELLED && !cancelled) {
        ledger->Violation("CANCELLED without a caller cancel", what);
      } else if (!cancelled) {
        ledger->Violation("FetchStream failed", absl::StrCat(what, ": ", outcome.label, " ", status.error_message()));
      }
    }
    // Fetches still open when the stream ended are answered by its end.
    for (auto& [route, p] : left) {
      const std::string label = absl::StrCat("stream ended: ", outcome.label);
      ledger->Answered(kStreamFetch, label);
      ledger->Route(route->name, label, false);
    }
    ledger->Answered(kStream, outcome.label);
    std::shared_ptr<StreamCall> keep = std::move(self_);
  }

 private:
  bool NextWriteLocked() {
    if (writing_ || queue_.empty()) return false;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    return true;
  }
  bool CloseLocked() {
    if (!closing_ || cancelled_ || broken_ || writing_ || !queue_.empty() || writes_done_) return false;
    writes_done_ = true;
    return true;
  }

  const int serial_;
  const absl::Duration lifetime_;
  const bool cancel_midway_;
  const int window_;
  absl::Time started_at_, ends_at_;
  grpc::ClientContext ctx_;
  FetchResponse read_;
  FetchRequest current_;
  std::mutex mu_;
  std::deque<FetchRequest> queue_;
  std::map<std::string, std::pair<const Route*, Prepared>> outstanding_;
  bool writing_ = false, closing_ = false, cancelled_ = false, broken_ = false, writes_done_ = false;
  std::shared_ptr<StreamCall> self_;
};

// ---- Stats and WatchStats ---------------------------------------------------------

class StatsCall final : public grpc::ClientUnaryReactor,
                        public Cancellable,
                        public std::enable_shared_from_this<StatsCall> {
 public:
  explicit StatsCall(std::string host) { request_.set_host(std::move(host)); }
  void Start(FetchPool::Stub* stub) {
    self_ = shared_from_this();
    ctx_.set_deadline(DeadlineIn(absl::Seconds(5)));
    ledger->Started(kStats);
    stub->async()->Stats(&ctx_, &request_, &response_, this);
    StartCall();
  }
  void Cancel() override {
    if (done_.load()) return;
    cancelled_ = true;
    ledger->CancelRequested(kStats);
    ctx_.TryCancel();
  }
  void OnDone(const grpc::Status& status) override {
    done_ = true;
    const Outcome o = OutcomeOf(status, ctx_, "Stats");
    if (status.ok()) {
      CheckStats(response_, "Stats load");
      if (!request_.host().empty() && (response_.pools_size() > 1 ||
                                       (response_.pools_size() == 1 && response_.pools(0).host() != request_.host()))) {
        ledger->Violation("Stats for one host answered other pools", request_.host());
      }
    } else if (status.error_code() == grpc::CANCELLED && !cancelled_) {
      ledger->Violation("CANCELLED without a caller cancel", "Stats");
    } else if (status.error_code() == grpc::DEADLINE_EXCEEDED) {
      ledger->Violation("no answer before the call's safety deadline (hang)", "Stats (5 s)");
    } else if (status.error_code() != grpc::CANCELLED) {
      ledger->Violation("Stats failed", absl::StrCat(o.label, " ", status.error_message()));
    }
    ledger->Answered(kStats, o.label);
    std::shared_ptr<StatsCall> keep = std::move(self_);
  }

 private:
  StatsRequest request_;
  StatsResponse response_;
  grpc::ClientContext ctx_;
  std::atomic<bool> cancelled_{false}, done_{false};
  std::shared_ptr<StatsCall> self_;
};

class WatchCall final : public grpc::ClientReadReactor<StatsResponse>,
                        public std::enable_shared_from_this<WatchCall> {
 public:
  WatchCall(absl::Duration interval, absl::Duration lifetime, bool by_deadline, std::string host)
      : interval_(interval), lifetime_(lifetime), by_deadline_(by_deadline) {
    request_.set_host(std::move(host));
    SetDuration(request_.mutable_interval(), interval);
  }
  void Start(FetchPool::Stub* stub) {
    self_ = shared_from_this();
    started_at_ = absl::Now();
    ctx_.set_deadline(DeadlineIn(by_deadline_ ? lifetime_ : lifetime_ + kSafetyDeadline));
    ledger->Started(kWatch);
    stub->async()->WatchStats(&ctx_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  absl::Time ends_at() const { return started_at_ + lifetime_; }
  bool by_deadline() const { return by_deadline_; }
  bool done() const { return done_.load(); }
  void Cancel() {
    cancelled_ = true;
    ledger->CancelRequested(kWatch);
    ctx_.TryCancel();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    ++messages_;
    CheckStats(response_, "WatchStats");
    response_.Clear();
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    const Outcome o = OutcomeOf(status, ctx_, "WatchStats");
    const absl::Duration lived = absl::Now() - started_at_;
    const std::string what = absl::StrCat("WatchStats every ", absl::FormatDuration(interval_), ", lived ",
                                          absl::FormatDuration(absl::Trunc(lived, absl::Milliseconds(1))),
                                          ", ", messages_, " messages");
    if (status.error_code() == grpc::CANCELLED && !cancelled_) {
      ledger->Violation("CANCELLED without a caller cancel", what);
    } else if (status.error_code() == grpc::DEADLINE_EXCEEDED && !by_deadline_) {
      ledger->Violation("WatchStats hit its safety deadline (hang)", what);
    } else if (status.error_code() != grpc::CANCELLED && status.error_code() != grpc::DEADLINE_EXCEEDED) {
      ledger->Violation("WatchStats ended other than by the caller", absl::StrCat(what, ": ", o.label));
    }
    // Liveness: a snapshot at once, then one per interval.
    const int64_t want = static_cast<int64_t>(lived / (interval_ + absl::Milliseconds(400)));
    if (lived > absl::Milliseconds(1500) && messages_ < std::max<int64_t>(1, want / 2)) {
      ledger->Violation("WatchStats sent too few snapshots", what);
    }
    ledger->Answered(kWatch, o.label);
    done_ = true;
    std::shared_ptr<WatchCall> keep = std::move(self_);
  }

 private:
  const absl::Duration interval_, lifetime_;
  const bool by_deadline_;
  WatchStatsRequest request_;
  StatsResponse response_;
  grpc::ClientContext ctx_;
  absl::Time started_at_;
  int64_t messages_ = 0;
  std::atomic<bool> cancelled_{false}, done_{false};
  std::shared_ptr<WatchCall> self_;
};

// ---- the sampler ----------------------------------------------------------------

struct Sample {
  double t = 0;  // seconds since the load started
  int64_t rss_kb = -1, threads = -1, fds = -1;
  int64_t pools = 0, busy = 0, idle = 0, connecting = 0, waiting = 0, opened = 0, closed = 0;
  bool stats_ok = false;
};

bool ReadProc(int pid, Sample* s) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    int64_t v;
    if (absl::StartsWith(line, "VmRSS:")) {
      std::istringstream(line.substr(6)) >> v;
      s->rss_kb = v;
    } else if (absl::StartsWith(line, "Threads:")) {
      std::istringstream(line.substr(8)) >> v;
      s->threads = v;
    }
  }
  DIR* d = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (d == nullptr) return false;
  int64_t n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  s->fds = n;
  return s->rss_kb >= 0 && s->threads >= 0;
}

bool SyncStats(FetchPool::Stub* stub, StatsResponse* r, absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeout));
  StatsRequest req;
  const grpc::Status s = stub->Stats(&ctx, req, r);
  return s.ok();
}

class Sampler {
 public:
  Sampler(FetchPool::Stub* stub, int pid, absl::Time start, absl::Duration interval)
      : stub_(stub), pid_(pid), start_(start), interval_(interval) {}

  void Run(const std::atomic<bool>* stop) {
    absl::Time next = absl::Now();
    while (!stop->load()) {
      TakeOne();
      next += interval_;
      while (!stop->load() && absl::Now() < next) absl::SleepFor(std::min(absl::Milliseconds(50), next - absl::Now()));
    }
  }

  Sample TakeOne() {
    Sample s;
    s.t = absl::ToDoubleSeconds(absl::Now() - start_);
    if (!ReadProc(pid_, &s)) {
      ledger->Violation("fetchpoold is gone", absl::StrCat("/proc/", pid_, " unreadable at t=", s.t));
      gone_ = true;
    }
    StatsResponse r;
    if (SyncStats(stub_, &r, absl::Seconds(5))) {
      s.stats_ok = true;
      CheckStats(r, "sampler");
      for (const auto& p : r.pools()) {
        s.busy += p.busy_connections();
        s.idle += p.idle_connections();
        s.connecting += p.connecting_connections();
        s.waiting += p.wait_queue_length();
        s.opened += p.connections_opened_total();
        s.closed += p.connections_closed_total();
      }
      s.pools = r.pools_size();
    } else {
      ledger->Violation("sampler's Stats call failed", absl::StrCat("t=", s.t));
    }
    std::lock_guard<std::mutex> l(mu_);
    samples_.push_back(s);
    return s;
  }

  std::vector<Sample> samples() {
    std::lock_guard<std::mutex> l(mu_);
    return samples_;
  }
  bool gone() const { return gone_.load(); }

 private:
  FetchPool::Stub* stub_;
  const int pid_;
  const absl::Time start_;
  const absl::Duration interval_;
  std::mutex mu_;
  std::vector<Sample> samples_;
  std::atomic<bool> gone_{false};
};

// ---- the report -----------------------------------------------------------------

struct WindowAvg {
  int n = 0;
  double rss_mib = 0, fds = 0, threads = 0;
};
WindowAvg Average(const std::vector<Sample>& v, double from, double to) {
  WindowAvg a;
  for (const Sample& s : v) {
    if (s.t < from || s.t >= to || s.rss_kb < 0) continue;
    ++a.n;
    a.rss_mib += s.rss_kb / 1024.0;
    a.fds += s.fds;
    a.threads += s.threads;
  }
  if (a.n > 0) {
    a.rss_mib /= a.n;
    a.fds /= a.n;
    a.threads /= a.n;
  }
  return a;
}

// Least-squares slope of RSS (MiB per minute) over the samples from `from` s on.
double RssSlopePerMinute(const std::vector<Sample>& v, double from, double to) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const Sample& s : v) {
    if (s.t < from || s.t > to || s.rss_kb < 0) continue;
    const double x = s.t / 60.0, y = s.rss_kb / 1024.0;
    n += 1;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double d = n * sxx - sx * sx;
  return n >= 3 && d > 0 ? (n * sxy - sx * sy) / d : 0;
}

std::string Pct(double from, double to) {
  if (from <= 0) return "n/a";
  return absl::StrFormat("%+.1f%%", 100.0 * (to - from) / from);
}

// --self_test: each invariant check must flag a StatsResponse crafted to
// break it, and pass a good one; the body checks likewise. Guards against a
// soak that passes because it checks nothing.
int SelfTest() {
  int failed = 0;
  auto expect = [&](const std::string& name, const StatsResponse& r, const std::string& violation) {
    Ledger l;
    ledger = &l;
    CheckStats(r, "self-test");
    const bool flagged = l.violations_.count(violation) > 0;
    const bool clean = l.violations_.empty();
    const bool ok = violation.empty() ? clean : (flagged && l.violations_.size() == 1);
    std::printf("self-test %-44s %s\n", name.c_str(), ok ? "ok" : "FAILED");
    if (!ok) ++failed;
    ledger = nullptr;
  };
  auto pool = [](uint32_t max, uint32_t busy, uint32_t idle, uint32_t connecting, uint32_t waiting) {
    StatsResponse r;
    HostPoolStats* p = r.add_pools();
    p->set_host("http://127.0.0.1:1");
    p->set_max_connections(max);
    p->set_max_idle_connections(max);
    p->set_busy_connections(busy);
    p->set_idle_connections(idle);
    p->set_connecting_connections(connecting);
    p->set_wait_queue_length(waiting);
    p->set_connections_opened_total(100 + busy + idle + connecting);
    p->set_connections_closed_total(100);
    return r;
  };
  expect("good pool", pool(4, 2, 1, 1, 0), "");
  expect("good pool at its cap with waiters", pool(4, 3, 0, 1, 5), "");
  expect("over the cap", pool(4, 3, 1, 1, 0), "busy + idle + connecting > max_connections");
  expect("waiters while idle", pool(4, 3, 1, 0, 2), "waiters while a connection is idle");
  expect("waiters below the cap", pool(4, 2, 0, 1, 2), "waiters while the pool is below its cap");
  StatsResponse drift = pool(4, 2, 1, 0, 0);
  drift.mutable_pools(0)->set_connections_closed_total(99);
  expect("opened - closed drift", drift, "opened - closed != busy + idle + connecting");
  StatsResponse idle_cap = pool(8, 0, 5, 0, 0);
  idle_cap.mutable_pools(0)->set_max_idle_connections(4);
  expect("idle over its cap", idle_cap, "idle > max_idle_connections");

  Prepared p;
  p.want_length = 3;
  FetchResponse r;
  r.set_status(200);
  r.set_body("abc");
  auto body = [&](const std::string& name, bool want_match) {
    const bool ok = BodyMismatch(p, r).empty() == want_match;
    std::printf("self-test %-44s %s\n", name.c_str(), ok ? "ok" : "FAILED");
    if (!ok) ++failed;
  };
  body("body of the right length", true);
  r.set_body("abcd");
  body("body of the wrong length", false);
  p.want_length = -1;
  p.want_body = "token-1";
  r.set_body("token-2");
  body("echo of another token", false);
  r.set_body("token-1");
  r.set_status(404);
  body("wrong HTTP status", false);
  std::printf("self-test: %s\n", failed == 0 ? "all checks catch their case" : "FAILED");
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_self_test)) return SelfTest();
  const std::string target = absl::GetFlag(FLAGS_target);
  const int pid = absl::GetFlag(FLAGS_pid);
  origins[kNormal] = absl::GetFlag(FLAGS_normal_origin);
  origins[kIdle] = absl::GetFlag(FLAGS_idle_origin);
  origins[kSlow] = absl::GetFlag(FLAGS_slow_origin);
  origins[kRefused] = absl::GetFlag(FLAGS_refused_origin);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  if (target.empty() || pid <= 0 || origins[kNormal].empty() || origins[kIdle].empty() ||
      origins[kSlow].empty() || duration < absl::Seconds(20)) {
    std::fprintf(stderr,
                 "soak_driver: --target, --pid, --normal_origin, --idle_origin and --slow_origin are required, "
                 "--duration at least 20s\n");
    return 2;
  }
  const double dur_s = absl::ToDoubleSeconds(duration);
  absl::Duration window = absl::GetFlag(FLAGS_window);
  if (window == absl::ZeroDuration()) window = dur_s >= 240 ? absl::Seconds(60) : duration / 4;
  absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  if (warmup == absl::ZeroDuration()) warmup = dur_s >= 120 ? absl::Seconds(10) : absl::Seconds(5);
  const double win_s = absl::ToDoubleSeconds(window), warm_s = absl::ToDoubleSeconds(warmup);
  if (warm_s + win_s > dur_s - win_s) {
    std::fprintf(stderr, "soak_driver: warm-up + two windows do not fit in the duration\n");
    return 2;
  }

  uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  std::mt19937_64 rng(seed);
  Ledger the_ledger;
  ledger = &the_ledger;
  routes = MakeRoutes();
  idle_burst_route = {"idle-close origin: GET /bytes 256, bursts ~1 s apart", kIdle, 0, 0,
                      [](auto&, bool, Prepared* p) {
                        SetPath(p, origins[kIdle], "/bytes?n=256");
                        p->want_length = 256;
                      }};
  std::vector<double> unary_w, stream_w;
  for (const Route& r : routes) {
    unary_w.push_back(r.unary_weight);
    stream_w.push_back(r.stream_weight);
  }
  std::discrete_distribution<size_t> pick_unary(unary_w.begin(), unary_w.end());
  std::discrete_distribution<size_t> pick_stream(stream_w.begin(), stream_w.end());

  // Two channels (two HTTP/2 connections): unary and Stats on one, streams on the other.
  auto channel = [&](int i) {
    grpc::ChannelArguments args;
    args.SetInt("soak.channel", i);
    return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  };
  auto stub = FetchPool::NewStub(channel(0));
  auto stream_stub = FetchPool::NewStub(channel(1));
  auto sampler_stub = FetchPool::NewStub(channel(2));
  {
    StatsResponse r;
    if (!SyncStats(stub.get(), &r, absl::Seconds(10))) {
      std::fprintf(stderr, "soak_driver: no Stats answer from %s\n", target.c_str());
      return 1;
    }
  }

  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  std::fprintf(stderr, "soak_driver: %s of load on %s (fetchpoold pid %d), seed %" PRIu64 "\n",
               absl::FormatDuration(duration).c_str(), target.c_str(), pid, seed);

  Sampler sampler(sampler_stub.get(), pid, start, absl::GetFlag(FLAGS_sample_interval));
  std::atomic<bool> stop_sampler{false};
  std::thread sampler_thread([&] { sampler.Run(&stop_sampler); });

  const double unary_rate = absl::GetFlag(FLAGS_unary_rate);
  const double stream_rate = absl::GetFlag(FLAGS_stream_rate);
  const double stats_rate = absl::GetFlag(FLAGS_stats_rate);
  const double cancel_fraction = absl::GetFlag(FLAGS_cancel_fraction);
  const int n_streams = absl::GetFlag(FLAGS_streams);
  const int n_watchers = absl::GetFlag(FLAGS_watchers);
  const int window_per_stream = absl::GetFlag(FLAGS_stream_window);
  const int idle_burst = absl::GetFlag(FLAGS_idle_burst);
  const int64_t max_unary = absl::GetFlag(FLAGS_max_unary_in_flight);
  const std::vector<std::string> pool_keys = {origins[kNormal], origins[kIdle], origins[kSlow]};

  struct ActiveStream {
    std::shared_ptr<StreamCall> call;
    absl::Time cancel_at;  // InfiniteFuture: closes at ends_at()
    double credit = 0;
  };
  std::vector<ActiveStream> streams;
  std::vector<std::shared_ptr<WatchCall>> watchers;
  int stream_serial = 0;
  double unary_credit = 0, stats_credit = 0;
  absl::Time next_burst = start + absl::Milliseconds(500);
  absl::Time last = start;
  int64_t progress_every = 30, next_progress = progress_every;

  auto launch_unary = [&](const Route& route) {
    if (unary_in_flight.load() >= max_unary) {
      ledger->Skipped(kUnary);
      return;
    }
    Prepared p;
    p.request.set_id(absl::StrCat("u", next_id.fetch_add(1)));
    route.make(rng, false, &p);
    auto call = std::make_shared<UnaryCall>(route, std::move(p));
    call->Start(stub.get());
    if (Uniform01(rng) < cancel_fraction) {
      cancels.push({absl::Now() + absl::Milliseconds(Uniform(rng, 0, 400)), call});
    }
  };

  // ---- the load ----
  while (true) {
    const absl::Time now = absl::Now();
    if (now >= end || sampler.gone()) break;
    const double dt = absl::ToDoubleSeconds(now - last);
    last = now;

    unary_credit += unary_rate * dt;
    for (; unary_credit >= 1; unary_credit -= 1) launch_unary(routes[pick_unary(rng)]);

    if (now >= next_burst) {
      for (int i = 0; i < idle_burst; ++i) launch_unary(idle_burst_route);
      // Mostly just under or over the origin's 1 s idle close; sometimes a
      // longer pause, after which every pooled connection has been closed.
      next_burst = now + (Uniform01(rng) < 0.2 ? absl::Milliseconds(Uniform(rng, 1500, 2500))
                                              : absl::Milliseconds(Uniform(rng, 900, 1100)));
    }

    stats_credit += stats_rate * dt;
    for (; stats_credit >= 1; stats_credit -= 1) {
      const double u = Uniform01(rng);
      auto call = std::make_shared<StatsCall>(u < 0.3 ? pool_keys[Uniform(rng, 0, 2)] : "");
      call->Start(stub.get());
      // A Stats answer takes about a millisecond, less than a scheduler
      // tick: a tenth are cancelled at once, racing the answer.
      if (u > 0.9) call->Cancel();
    }

    // Streams: close or cancel those whose time is up; keep n_streams open.
    for (auto it = streams.begin(); it != streams.end();) {
      if (now >= it->cancel_at) {
        it->call->Cancel();
        it = streams.erase(it);
      } else if (now >= it->call->ends_at()) {
        it->call->Close();
        it = streams.erase(it);
      } else {
        it->credit = std::min(it->credit + stream_rate * dt, static_cast<double>(window_per_stream));
        while (it->credit >= 1 && it->call->Send(rng, routes[pick_stream(rng)])) it->credit -= 1;
        ++it;
      }
    }
    while (static_cast<int>(streams.size()) < n_streams) {
      const absl::Duration life = absl::Milliseconds(Uniform(rng, 3000, 12000));
      const bool cancel = Uniform01(rng) < 0.25;
      auto call = std::make_shared<StreamCall>(++stream_serial, life, cancel, window_per_stream);
      call->Start(stream_stub.get());
      ActiveStream a{call, absl::InfiniteFuture(), 0};
      if (cancel) a.cancel_at = now + life * Uniform01(rng);
      streams.push_back(std::move(a));
    }

    // WatchStats: cancelled when their time is up, or left to their deadline.
    for (auto it = watchers.begin(); it != watchers.end();) {
      if ((*it)->by_deadline() ? (*it)->done() : now >= (*it)->ends_at()) {
        if (!(*it)->by_deadline()) (*it)->Cancel();
        it = watchers.erase(it);
      } else {
        ++it;
      }
    }
    while (static_cast<int>(watchers.size()) < n_watchers) {
      const double u = Uniform01(rng);
      auto call = std::make_shared<WatchCall>(absl::Milliseconds(Uniform(rng, 100, 500)),
                                              absl::Milliseconds(Uniform(rng, 2000, 10000)), u < 0.3,
                                              u > 0.8 ? pool_keys[Uniform(rng, 0, 2)] : "");
      call->Start(stub.get());
      watchers.push_back(std::move(call));
    }

    while (!cancels.empty() && cancels.top().at <= now) {
      cancels.top().call->Cancel();
      cancels.pop();
    }

    const double elapsed = absl::ToDoubleSeconds(now - start);
    if (elapsed >= next_progress) {
      std::fprintf(stderr, "soak_driver: t=%.0fs unary in flight %" PRId64 ", outstanding %" PRId64
                   ", violations so far %zu kinds\n",
                   elapsed, unary_in_flight.load(), ledger->TotalOutstanding(), [] {
                     std::lock_guard<std::mutex> l(ledger->mu_);
                     return ledger->violations_.size();
                   }());
      next_progress += progress_every;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Time load_end = absl::Now();

  // ---- wind down: half-close the streams, cancel the watchers, await every answer ----
  for (auto& s : streams) s.call->Close();
  streams.clear();
  for (auto& w : watchers) {
    if (!w->by_deadline()) w->Cancel();
  }
  watchers.clear();
  const absl::Time drain_until = absl::Now() + absl::GetFlag(FLAGS_drain);
  while (ledger->TotalOutstanding() > 0 && absl::Now() < drain_until) {
    while (!cancels.empty() && cancels.top().at <= absl::Now()) {
      cancels.top().call->Cancel();
      cancels.pop();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  while (!cancels.empty()) cancels.pop();
  const double drain_s = absl::ToDoubleSeconds(absl::Now() - load_end);
  stop_sampler = true;
  sampler_thread.join();

  int64_t outstanding[kNumKinds];
  for (int k = 0; k < kNumKinds; ++k) {
    outstanding[k] = ledger->Outstanding(static_cast<Kind>(k));
    if (outstanding[k] != 0) {
      ledger->Violation("calls without an answer at the end",
                        absl::StrCat(kKindNames[k], ": ", outstanding[k], " after ", drain_s, " s of drain"));
    }
  }

  // ---- settle: every pool gives its capacity back ----
  std::string settle_state;
  double settle_s = -1;
  HostPoolStats final_totals;
  {
    const absl::Time t0 = absl::Now();
    const absl::Time until = t0 + absl::GetFlag(FLAGS_settle);
    while (true) {
      StatsResponse r;
      bool quiet = SyncStats(sampler_stub.get(), &r, absl::Seconds(5));
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
        final_totals = r.totals();
        settle_s = absl::ToDoubleSeconds(absl::Now() - t0);
        break;
      }
      if (absl::Now() >= until) {
        ledger->Violation("capacity not returned after the load (stranded)", settle_state);
        break;
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  }
  Sample final_sample;
  ReadProc(pid, &final_sample);

  // ---- the verdict ----
  const std::vector<Sample> samples = sampler.samples();
  const WindowAvg first = Average(samples, warm_s, warm_s + win_s);
  const WindowAvg lastw = Average(samples, dur_s - win_s, dur_s + 0.001);
  std::vector<std::string> failures;
  const double rss_allow = std::max(first.rss_mib * absl::GetFlag(FLAGS_rss_margin_fraction),
                                    absl::GetFlag(FLAGS_rss_margin_mib));
  const double fd_allow = absl::GetFlag(FLAGS_fd_margin), thr_allow = absl::GetFlag(FLAGS_thread_margin);
  const bool windows_ok = first.n >= 3 && lastw.n >= 3;
  if (!windows_ok) failures.push_back("too few samples in the first or last window");
  const bool rss_ok = windows_ok && lastw.rss_mib <= first.rss_mib + rss_allow;
  const bool fd_ok = windows_ok && lastw.fds <= first.fds + fd_allow;
  const bool thr_ok = windows_ok && lastw.threads <= first.threads + thr_allow;
  if (windows_ok && !rss_ok) failures.push_back("RSS grew");
  if (windows_ok && !fd_ok) failures.push_back("descriptors grew");
  if (windows_ok && !thr_ok) failures.push_back("threads grew");
  int64_t n_violations = 0;
  for (const auto& [what, n] : ledger->violations_) n_violations += n;
  if (n_violations > 0) failures.push_back(absl::StrCat(n_violations, " violation(s)"));
  const bool pass = failures.empty();

  std::string md;
  auto line = [&](const std::string& s) { absl::StrAppend(&md, s, "\n"); };
  line(absl::StrCat("# fetchpool soak: ", pass ? "PASS" : "FAIL"));
  line("");
  line(absl::StrCat("Run ", absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", start, absl::LocalTimeZone()),
                    ", seed ", seed, ". ", absl::GetFlag(FLAGS_setup)));
  if (!pass) line(absl::StrCat("\n**FAIL:** ", absl::StrJoin(failures, "; "), "."));
  line("");
  line("| | |");
  line("|---|---|");
  line(absl::StrFormat("| load | %.0f s, then %.1f s until every call was answered |", dur_s, drain_s));
  line(absl::StrFormat("| pools settled after the load (nothing busy, connecting or waiting) | %s |",
                       settle_s >= 0 ? absl::StrFormat("yes, in %.1f s", settle_s) : "**no**: " + settle_state));
  line(absl::StrFormat("| resource samples | %zu, every %s |", samples.size(),
                       absl::FormatDuration(absl::GetFlag(FLAGS_sample_interval))));
  line("");
  line("## Calls: every one answered exactly once");
  line("");
  line("| kind | started | answered | without answer | cancels sent by the caller |");
  line("|---|---:|---:|---:|---:|");
  for (int k = 0; k < kNumKinds; ++k) {
    line(absl::StrCat("| ", kKindNames[k], " | ", ledger->started_[k], " | ", ledger->answered_[k], " | ",
                      outstanding[k], " | ",
                      k == kStreamFetch ? std::string("(with their stream)") : absl::StrCat(ledger->cancels_[k]),
                      " |"));
  }
  if (ledger->skipped_[kUnary] > 0) {
    line(absl::StrCat("\n", ledger->skipped_[kUnary], " unary calls were not started: ", max_unary,
                      " already in flight."));
  }
  line("");
  line("## Answers by outcome");
  line("");
  line("OK answers by HTTP status; errors by `fetchpool-reason` (\"client side\": the caller's own deadline or "
       "cancel reached first; \"stream ended\": fetches still open when their FetchStream ended).");
  line("");
  line("| outcome | Fetch | FetchStream fetch | FetchStream | Stats | WatchStats |");
  line("|---|---:|---:|---:|---:|---:|");
  for (const auto& [label, by] : ledger->outcomes_) {
    line(absl::StrCat("| ", label, " | ", by[kUnary], " | ", by[kStreamFetch], " | ", by[kStream], " | ",
                      by[kStats], " | ", by[kWatch], " |"));
  }
  line("");
  line("## Stats invariants, per pool, in every StatsResponse");
  line("");
  line("busy + idle + connecting <= max_connections; idle <= max_idle_connections; waiters only while nothing "
       "is idle and the pool is at its cap; connections_opened_total - connections_closed_total == busy + idle "
       "+ connecting.");
  line("");
  line("| source | responses | pool snapshots | snapshots violating |");
  line("|---|---:|---:|---:|");
  int64_t total_resp = 0, total_pools = 0, total_bad = 0;
  for (const auto& [source, c] : ledger->stats_checks_) {
    line(absl::StrCat("| ", source, " | ", c[0], " | ", c[1], " | ", c[2], " |"));
    total_resp += c[0];
    total_pools += c[1];
    total_bad += c[2];
  }
  line(absl::StrCat("| **all** | ", total_resp, " | ", total_pools, " | ", total_bad, " |"));
  line("");
  line("## fetchpoold resources (averages)");
  line("");
  line(absl::StrFormat("| | first window (t = %.0f-%.0f s) | last window (t = %.0f-%.0f s) | change | allowed | |",
                       warm_s, warm_s + win_s, dur_s - win_s, dur_s));
  line("|---|---:|---:|---:|---|---|");
  line(absl::StrFormat("| RSS (MiB) | %.1f | %.1f | %s | +%.1f MiB | %s |", first.rss_mib, lastw.rss_mib,
                       Pct(first.rss_mib, lastw.rss_mib), rss_allow, rss_ok ? "ok" : "**grew**"));
  line(absl::StrFormat("| open descriptors | %.1f | %.1f | %+.1f | +%.0f | %s |", first.fds, lastw.fds,
                       lastw.fds - first.fds, fd_allow, fd_ok ? "ok" : "**grew**"));
  line(absl::StrFormat("| threads | %.1f | %.1f | %+.1f | +%.0f | %s |", first.threads, lastw.threads,
                       lastw.threads - first.threads, thr_allow, thr_ok ? "ok" : "**grew**"));
  int64_t peak_rss = 0, peak_fds = 0, peak_thr = 0, peak_wait = 0;
  for (const Sample& s : samples) {
    peak_rss = std::max(peak_rss, s.rss_kb);
    peak_fds = std::max(peak_fds, s.fds);
    peak_thr = std::max(peak_thr, s.threads);
    peak_wait = std::max(peak_wait, s.waiting);
  }
  line(absl::StrFormat("\nRSS trend after the warm-up (least squares, t = %.0f-%.0f s): %+.2f MiB per minute; "
                       "from the first to the last window: %+.2f MiB.",
                       warm_s, dur_s, RssSlopePerMinute(samples, warm_s, dur_s), lastw.rss_mib - first.rss_mib));
  line(absl::StrFormat("\nPeaks: RSS %.1f MiB, %d descriptors, %d threads, %d callers waiting. After the load "
                       "settled: RSS %.1f MiB, %d descriptors, %d threads. Samples per window: %d and %d.",
                       peak_rss / 1024.0, peak_fds, peak_thr, peak_wait, final_sample.rss_kb / 1024.0,
                       final_sample.fds, final_sample.threads, first.n, lastw.n));
  line("");
  line("## fetchpoold's own counters at the end (all pools)");
  line("");
  {
    const HostPoolStats& t = final_totals;
    line("| requests | reused | opened | closed | by origin (stale caught) | aborted | error | idle overflow | "
         "max lifetime | idle timeout | retries | wait timeouts | cancelled waiters | queue full | failures |");
    line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    line(absl::StrCat("| ", t.requests_total(), " | ", t.reused_requests_total(), " | ",
                      t.connections_opened_total(), " | ", t.connections_closed_total(), " | ",
                      t.closed_upstream_total(), " (", t.stale_caught_total(), ") | ", t.closed_aborted_total(),
                      " | ", t.closed_error_total(), " | ", t.closed_idle_overflow_total(), " | ",
                      t.closed_max_lifetime_total(), " | ", t.closed_idle_timeout_total(), " | ",
                      t.retries_total(), " | ", t.wait_timeouts_total(), " | ", t.cancelled_waiters_total(),
                      " | ", t.queue_full_total(), " | ", t.failures_total(), " |"));
  }
  line("");
  line("## Routes");
  line("");
  line("\"unexpected\": errors on a route that should succeed, without a caller cancel (reported, not failed: "
       "under load a small pool may queue past a wait timeout).");
  line("");
  line("| route | calls | outcomes | unexpected |");
  line("|---|---:|---|---:|");
  for (const auto& [name, t] : ledger->routes_) {
    std::vector<std::pair<int64_t, std::string>> top;
    for (const auto& [o, n] : t.outcomes) top.push_back({n, o});
    std::sort(top.rbegin(), top.rend());
    std::vector<std::string> parts;
    for (const auto& [n, o] : top) parts.push_back(absl::StrCat(o, " ", n));
    line(absl::StrCat("| ", name, " | ", t.calls, " | ", absl::StrJoin(parts, ", "), " | ", t.unexpected, " |"));
  }
  line("");
  line("## Violations");
  line("");
  if (ledger->violations_.empty()) {
    line("None.");
  } else {
    line("| violation | count |");
    line("|---|---:|");
    for (const auto& [what, n] : ledger->violations_) line(absl::StrCat("| ", what, " | ", n, " |"));
    line("");
    line("First examples:");
    line("");
    for (const auto& e : ledger->examples_) line(absl::StrCat("- ", e));
  }

  std::fputs(md.c_str(), stdout);
  std::fflush(stdout);
  if (const std::string path = absl::GetFlag(FLAGS_report); !path.empty()) {
    std::ofstream(path) << md;
  }
  if (const std::string path = absl::GetFlag(FLAGS_samples); !path.empty()) {
    std::ofstream out(path);
    out << "t_s\trss_kb\tfds\tthreads\tpools\tbusy\tidle\tconnecting\twaiting\topened\tclosed\n";
    for (const Sample& s : samples) {
      out << absl::StrFormat("%.1f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s.t, s.rss_kb, s.fds, s.threads,
                             s.pools, s.busy, s.idle, s.connecting, s.waiting, s.opened, s.closed);
    }
  }
  // Calls still outstanding (only after a failed drain) hold reactors gRPC
  // may still call: leave without running destructors.
  std::fflush(nullptr);
  if (ledger->TotalOutstanding() > 0) std::_Exit(pass ? 0 : 1);
  return pass ? 0 : 1;
}
