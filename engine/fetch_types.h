#ifndef FETCHPOOL_ENGINE_FETCH_TYPES_H_
#define FETCHPOOL_ENGINE_FETCH_TYPES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "engine/buffer_budget.h"
#include "engine/fetch_config.h"

namespace fetchpool {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A validated fetch: everything the engine needs, nothing it must re-check.
// Built only by server/request_validation (one validation layer), or by tests.
struct FetchSpec {
  std::string method = "GET";  // an HTTP token, upper-case as given
  std::string url;             // absolute http(s) URL, as curl will send it
  std::string pool_key;        // "scheme://host:port", host lower-case, port explicit
  HeaderList headers;
  std::string body;
  uint64_t max_response_bytes = 0;                 // 0: the pool's limit
  absl::optional<absl::Duration> wait_timeout;     // unset: the pool's
  absl::optional<absl::Duration> request_timeout;  // unset: the call deadline only
  bool follow_redirects = false;
  uint32_t max_redirects = 10;
  // Safe to replay once on a fresh connection after a failure on a reused
  // connection before any response byte (GET, HEAD, OPTIONS, PUT, DELETE,
  // TRACE, or caller-marked).
  bool replayable = false;
  absl::optional<OnDeadline> on_deadline;  // unset: the pool's policy
  std::string id;                          // caller's correlation id, echoed
  // Who asked: the token's name, the client certificate's SAN, or
  // "anonymous". For per-caller quotas, metrics and logs.
  std::string caller = "anonymous";
  // FetchRequest.egress_profile: a stricter profile asked for; empty: none.
  std::string egress_profile;
  bool allow_https_downgrade = false;  // with follow_redirects
  // The call's deadline on the engine's clock; InfiniteFuture when none.
  absl::Time deadline = absl::InfiniteFuture();
  // W3C trace context to send upstream, decided at the edge
  // (server/trace_context.h); empty traceparent: none. Sent after the
  // caller's headers, which then hold no header of these names.
  std::string traceparent;
  std::string tracestate;
  std::string trace_id;  // for FetchResponse.trace_id and error logs
};

struct FetchTimings {
  absl::Duration queue_wait;
  absl::Duration dns;
  absl::Duration connect;
  absl::Duration tls;
  absl::Duration first_byte;
  absl::Duration total;
};

struct FetchResult {
  int status = 0;
  HeaderList headers;
  std::string body;
  bool connection_reused = false;
  FetchTimings timing;
  std::string pool;
  std::string remote_address;
  std::string http_version;
  std::string effective_url;
  uint32_t redirects = 0;
  uint32_t attempts = 1;
  std::string id;
  std::string trace_id;  // FetchSpec::trace_id
  // The body's share of the engine's buffer budget, held until the answer
  // is written to the caller or dropped (released when destroyed).
  BufferReservation buffer;
};

// Runs exactly once, on the engine's loop thread: keep it short.
using FetchCallback = absl::AnyInvocable<void(absl::StatusOr<FetchResult>)>;

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_FETCH_TYPES_H_
