#ifndef FETCHPOOL_BENCH_SOAK_ROUTES_H_
#define FETCHPOOL_BENCH_SOAK_ROUTES_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/soak/deadlines.h"
#include "fetchpool/v1/fetchpool.pb.h"
#include "google/protobuf/duration.pb.h"

namespace fetchpool::soak {

// ---- routes: what each fetch of the mix asks for, and what it must get -----------

enum class Expect { kOk, kError, kAny };

struct Prepared {
  fetchpool::v1::FetchRequest request;
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

enum OriginIndex { kNormal, kIdle, kSlow, kRefused, kNumOrigins };
// The origins' base URLs (from the flags; kRefused may be empty: its route is left out).
extern std::string origins[kNumOrigins];

// Request ids, unique over the run (unary calls and stream fetches alike).
extern std::atomic<int64_t> next_id;

// The mix, weighted per unary call and per stream fetch.
std::vector<Route> MakeRoutes();
// The bursts to the idle-closing origin (see the scheduler).
Route MakeIdleBurstRoute();

int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi);
double Uniform01(std::mt19937_64& rng);

void SetDuration(google::protobuf::Duration* d, absl::Duration v);

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_ROUTES_H_
