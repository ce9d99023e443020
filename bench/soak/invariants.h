#ifndef FETCHPOOL_BENCH_SOAK_INVARIANTS_H_
#define FETCHPOOL_BENCH_SOAK_INVARIANTS_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "bench/soak/ledger.h"
#include "bench/soak/routes.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool::soak {

// What counts as a violation: the per-pool invariants of every StatsResponse
// and the judgement of every answer. Each violation goes to the ledger.
// (self_test.cc feeds these checks input crafted to break them.)

// The invariants of one StatsResponse, per pool: busy + idle + connecting <=
// max_connections, idle <= max_idle_connections, waiters only while nothing
// is idle and the pool is at its cap, opened - closed == busy + idle +
// connecting. Checked per pool, never on totals, so they stay valid when
// pools are spread over several event loops.
void CheckStats(const fetchpool::v1::StatsResponse& r, const std::string& source);

// The outcome label of a finished gRPC call: the `fetchpool-reason`, else the
// code marked as the client's own (its deadline or its cancel). Also checks
// that the trailer and the message prefix agree.
struct Outcome {
  std::string label;
  std::string reason;  // empty: no reason from fetchpoold
};
Outcome OutcomeOf(const grpc::Status& s, const grpc::ClientContext& ctx, const std::string& what);

// Checks an OK answer's body against what the route promised. Returns an
// empty string when it matches.
std::string BodyMismatch(const Prepared& p, const fetchpool::v1::FetchResponse& r);

// Judges one fetch's answer, for unary calls and stream fetches alike.
// `ok_response`: the FetchResponse of an OK answer, null for an error.
void JudgeFetch(Kind kind, const Route& route, const Prepared& p, const fetchpool::v1::FetchResponse* ok_response,
                const Outcome& outcome, bool cancelled_by_us);

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_INVARIANTS_H_
