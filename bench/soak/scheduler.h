#ifndef FETCHPOOL_BENCH_SOAK_SCHEDULER_H_
#define FETCHPOOL_BENCH_SOAK_SCHEDULER_H_

#include <random>
#include <vector>

#include "absl/time/time.h"
#include "bench/soak/options.h"
#include "bench/soak/proc_sampler.h"
#include "bench/soak/routes.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool::soak {

// The scheduler: one thread that starts every call of the mix, every 10 ms,
// from `start` until `end` (or until the sampler finds fetchpoold gone):
// unary Fetch at o.unary_rate over `routes` plus a burst of o.idle_burst
// calls to the idle-closing origin ~1 s apart, o.streams FetchStreams and
// o.watchers WatchStats at a time, Stats at o.stats_rate, and the caller
// cancels at their set times. Then it winds down: half-closes the streams,
// cancels the watchers and waits up to o.drain for every answer. Returns
// when the load ended (before the wind-down). `routes` and `idle_burst`
// must outlive every call.
absl::Time RunLoad(const Options& o, const std::vector<Route>& routes, const Route& idle_burst,
                   fetchpool::v1::FetchPool::Stub* stub, fetchpool::v1::FetchPool::Stub* stream_stub,
                   const Sampler& sampler, std::mt19937_64& rng, absl::Time start, absl::Time end);

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_SCHEDULER_H_
