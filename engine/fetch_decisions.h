#ifndef FETCHPOOL_ENGINE_FETCH_DECISIONS_H_
#define FETCHPOOL_ENGINE_FETCH_DECISIONS_H_

// The engine's decisions about a fetch, as pure functions over plain
// structs: whether to replay, where a redirect goes, what becomes of the
// connection. No curl and no loop here, so each is unit-tested directly
// (tests/engine/fetch_decisions_test.cc); the curl code only carries them out.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "engine/fetch_types.h"
#include "pool/host_pool.h"

namespace fetchpool {

// What one attempt's transfer left behind, as far as the decisions care.
struct AttemptOutcome {
  bool ok = false;                 // curl finished the transfer (CURLE_OK)
  bool stale_error = false;        // send/recv error or empty reply (IsStaleConnectionError)
  bool died_after_request = false; // a reused connection died after the request went out
  // HTTP/2: the origin never processed the request (its stream was
  // refused: REFUSED_STREAM, or above a GOAWAY's last-stream-id), or it
  // never left (the multiplexed connection took no new stream).
  bool never_processed = false;
  bool reused = false;             // ran on a connection opened for an earlier request
  // HTTP/2: the origin had sent GOAWAY on the connection. A stream its
  // close then cut off died of that announced shutdown (the reuse race),
  // not of its own request, even on the connection it opened itself.
  bool origin_going_away = false;
  bool any_response_byte = false;
  bool socket_open = false;        // the connection is still open afterwards
  bool too_large = false;          // ended by the body limit
  bool replayable = false;         // the request is safe to send again
  uint32_t attempts = 1;           // this one included
};

// A request that failed on a reused connection before any response byte
// (the origin closed it while our request was on the way: the hyper reset)
// is replayed once, on a fresh connection, when it is safe to replay; so is
// one on a connection whose origin had sent GOAWAY.
// A request the origin never processed (AttemptOutcome::never_processed)
// is replayed whatever its method, up to kMaxNeverProcessedAttempts in all.
bool ShouldReplay(const AttemptOutcome& attempt);
inline constexpr uint32_t kMaxNeverProcessedAttempts = 10;

// What becomes of the connection after an attempt. `draining`: the caller
// was already answered and the response was being read to keep the
// connection. A stream that was never processed ends only itself
// (kAborted: on a multiplexed slot, the stream is free again); the
// connection's GOAWAY is told to the pool apart (HostPool::MarkGoingAway).
ExchangeEnd ConnectionEnd(const AttemptOutcome& attempt, bool draining);

// 301, 302, 303, 307, 308.
bool IsRedirect(int status);

// The next request of a redirect, or why there is none.
struct RedirectStep {
  enum class Kind {
    kFollow,     // request `url` (pool `pool_key`) with `method` and `body`
    kAnswer,     // no Location: the 3xx is the answer
    kError,      // `error`: too many redirects, or an unusable Location
  };
  Kind kind = Kind::kAnswer;
  std::string url;
  std::string pool_key;
  std::string method;
  bool drop_body = false;
  // The request headers of the next request: the caller's, less credentials
  // when the origin changes and less the body's headers when the body goes.
  HeaderList headers;
  bool headers_changed = false;  // `headers` differs from spec.headers
  absl::Status error;
};
// `spec`: the request that got `status` with `headers` after `redirects`
// redirects already followed. Hygiene (the rules curl and browsers follow):
//  - a Location with a scheme other than http(s) (file:, gopher:, ...) is
//    never followed: PERMISSION_DENIED / DESTINATION_DENIED;
//  - https -> http is refused unless spec.allow_https_downgrade:
//    INVALID_ARGUMENT / INSECURE_REDIRECT, decided before any byte goes out;
//  - when the origin (scheme, host or port: the pool key) changes,
//    Authorization, Cookie, Proxy-Authorization and every name in
//    `extra_credential_headers` (case-insensitive; the egress profile's
//    credential headers) are dropped, as curl does without
//    CURLOPT_UNRESTRICTED_AUTH; the same origin keeps them;
//  - 303 becomes GET (HEAD stays HEAD) without a body; 301/302 after a POST
//    also become GET without a body (what browsers and curl without
//    CURLOPT_POSTREDIR do); 307/308 keep the method and the body. Dropping
//    the body drops its headers too (Content-Type, Content-Encoding,
//    Content-Language, Content-Location: the Fetch standard's list).
RedirectStep DecideRedirect(const FetchSpec& spec, int status, const HeaderList& headers,
                            uint32_t redirects,
                            absl::Span<const std::string> extra_credential_headers = {});

// The scheme a Location names explicitly ("FILE:///x" -> "file"), lower-case;
// empty for a relative reference ("/a", "//host/a", "a:b" is a scheme).
std::string ExplicitScheme(absl::string_view location);

// The status the caller hears. SHUTTING_DOWN and QUEUE_FULL promise that no
// request of the fetch reached an origin, so clients retry them for any
// method, POST included (client-sdk/README.md, "Retries"). Once a request of
// the fetch may have been sent (a transfer started: an earlier redirect hop,
// or the exchange that a shutdown past its grace cuts off), the same failure
// is ABORTED_AFTER_SEND, which no client retries on its own.
absl::Status KeepNeverSentPromise(absl::Status status, bool request_may_have_been_sent);

// "timeout=5, max=100" -> 5 s; nullopt without a usable timeout.
absl::optional<absl::Duration> ParseKeepAliveTimeout(absl::string_view value);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_FETCH_DECISIONS_H_
