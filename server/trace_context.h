#ifndef FETCHPOOL_SERVER_TRACE_CONTEXT_H_
#define FETCHPOOL_SERVER_TRACE_CONTEXT_H_

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the decision of
// what `traceparent` / `tracestate` a fetch sends upstream. Pure functions,
// no gRPC and no curl: the gRPC edge reads the caller's metadata, the engine
// sends the plain strings this returns (FetchSpec::traceparent/tracestate).
// Thread: any; nothing here is shared.

#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "engine/fetch_types.h"

namespace fetchpool {

// --trace_propagation. kOff: never send a trace context upstream.
// kForward: only when the caller sent a valid one. kStart: also start a new
// trace (random trace id) when the caller sent none or a malformed one.
enum class TracePropagation { kOff, kForward, kStart };

absl::StatusOr<TracePropagation> ParseTracePropagation(absl::string_view text);
std::string TracePropagationName(TracePropagation mode);

// A valid traceparent's fields, as lower-case hex.
struct TraceParent {
  std::string trace_id;   // 32 hex digits, not all zero
  std::string parent_id;  // 16 hex digits, not all zero
  std::string flags;      // 2 hex digits
};

// Version 00 exactly as the spec writes it; version ff is invalid; a higher
// version is read by the 00 rules on its first 55 characters, which must be
// the whole value or be followed by '-' (the spec's forward compatibility).
// Upper-case hex is invalid. nullopt: malformed (the caller's value is then
// dropped, never forwarded).
absl::optional<TraceParent> ParseTraceparent(absl::string_view value);

// What one fetch sends upstream. Empty traceparent: nothing is sent.
struct UpstreamTrace {
  std::string traceparent;  // "00-<trace id>-<new span id>-<flags>"
  std::string tracestate;   // the caller's, only with a valid traceparent
  std::string trace_id;     // echoed in FetchResponse.trace_id and error logs
};

// The caller's metadata values: nullopt when absent. `traceparent_count` > 1
// (the header repeated) is malformed. A new random 8-byte span id for every
// fetch (its parent is the caller's span); the flags are kept; a started trace
// has flags 00 (not sampled: fetchpool records no spans itself).
UpstreamTrace PlanUpstreamTrace(TracePropagation mode,
                                const absl::optional<std::string>& traceparent,
                                int traceparent_count,
                                const absl::optional<std::string>& tracestate,
                                absl::BitGenRef random);

// Decided: while propagation is on, the caller's own `traceparent` and
// `tracestate` in FetchRequest.headers are removed, whatever their case, so
// a caller cannot inject a trace context that bypasses the checks above; the
// planned one (if any) is then sent from FetchSpec's fields. With kOff the
// headers pass through untouched, like any other header.
void ApplyUpstreamTrace(TracePropagation mode, UpstreamTrace trace, FetchSpec* spec);

// One call's trace settings: the service's mode and the caller's gRPC
// metadata, read once by the reactor (server/fetch_service.cc).
struct CallerTrace {
  TracePropagation mode = TracePropagation::kOff;
  absl::optional<std::string> traceparent;  // the first value, when sent
  int traceparent_count = 0;                // values sent (more than 1: malformed)
  absl::optional<std::string> tracestate;   // the values joined with ","
};

// Plans and applies one fetch's trace context (a thread-local generator for
// the span id). Thread: any.
void TraceFetch(const CallerTrace& caller, FetchSpec* spec);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_TRACE_CONTEXT_H_
