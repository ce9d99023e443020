#ifndef FETCHPOOL_COMMON_REASON_H_
#define FETCHPOOL_COMMON_REASON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fetchpool {

// Stable, machine-readable error reasons. Callers match on these strings
// (they reach them as the `fetchpool-reason` trailer), so never rename one.
// The list is documented in README.md ("Error reasons").
#define FETCHPOOL_REASONS(X)                                              \
  X(kInvalidRequest, "INVALID_REQUEST", kInvalidArgument)                 \
  X(kInvalidMethod, "INVALID_METHOD", kInvalidArgument)                   \
  X(kInvalidUrl, "INVALID_URL", kInvalidArgument)                         \
  X(kUnsupportedScheme, "UNSUPPORTED_SCHEME", kInvalidArgument)           \
  X(kInvalidHeader, "INVALID_HEADER", kInvalidArgument)                   \
  X(kInvalidOption, "INVALID_OPTION", kInvalidArgument)                   \
  X(kDestinationDenied, "DESTINATION_DENIED", kPermissionDenied)          \
  X(kInsecureRedirect, "INSECURE_REDIRECT", kInvalidArgument)             \
  X(kUnauthenticated, "UNAUTHENTICATED", kUnauthenticated)                \
  X(kProfileDenied, "PROFILE_DENIED", kPermissionDenied)                  \
  X(kMethodDenied, "METHOD_DENIED", kInvalidArgument)                     \
  X(kStatsDenied, "STATS_DENIED", kPermissionDenied)                      \
  X(kWaitTimeout, "WAIT_TIMEOUT", kDeadlineExceeded)                      \
  X(kDeadlineExceeded, "DEADLINE_EXCEEDED", kDeadlineExceeded)            \
  X(kQueueFull, "QUEUE_FULL", kResourceExhausted)                         \
  X(kResponseTooLarge, "RESPONSE_TOO_LARGE", kResourceExhausted)          \
  X(kResponseHeadersTooLarge, "RESPONSE_HEADERS_TOO_LARGE", kResourceExhausted) \
  X(kCallerQuota, "CALLER_QUOTA_EXCEEDED", kResourceExhausted)            \
  X(kBufferBudget, "BUFFER_BUDGET_EXCEEDED", kResourceExhausted)          \
  X(kTooManyStreams, "TOO_MANY_STREAMS", kResourceExhausted)              \
  X(kLocalResources, "LOCAL_RESOURCES", kResourceExhausted)               \
  X(kConnectRefused, "CONNECT_REFUSED", kUnavailable)                     \
  X(kConnectTimeout, "CONNECT_TIMEOUT", kUnavailable)                     \
  X(kConnectionReset, "CONNECTION_RESET", kUnavailable)                   \
  X(kDnsFailure, "DNS_FAILURE", kUnavailable)                             \
  X(kTruncatedResponse, "TRUNCATED_RESPONSE", kUnavailable)               \
  X(kTlsError, "TLS_ERROR", kUnavailable)                                 \
  X(kProtocolError, "PROTOCOL_ERROR", kUnavailable)                       \
  X(kTooManyRedirects, "TOO_MANY_REDIRECTS", kUnavailable)                \
  X(kUpstreamError, "UPSTREAM_ERROR", kUnavailable)                       \
  X(kUpstreamTooSlow, "UPSTREAM_TOO_SLOW", kUnavailable)                  \
  X(kCancelled, "CANCELLED", kCancelled)                                  \
  X(kShuttingDown, "SHUTTING_DOWN", kUnavailable)                         \
  X(kAbortedAfterSend, "ABORTED_AFTER_SEND", kUnavailable)                \
  X(kInternal, "INTERNAL", kInternal)

enum class Reason {
#define FETCHPOOL_REASON_ENUM(name, str, code) name,
  FETCHPOOL_REASONS(FETCHPOOL_REASON_ENUM)
#undef FETCHPOOL_REASON_ENUM
};

absl::string_view ReasonName(Reason reason);
absl::StatusCode ReasonCode(Reason reason);

// An error status carrying `reason` as a payload; the message is what a person
// reads ("waited 40ms for a connection to http://api:80 (8 busy, 31 waiting)").
absl::Status MakeError(Reason reason, absl::string_view message);

// `s` in double quotes for an error message: escaped so control bytes and
// quotes are visible and cannot break a log line, cut at about 80 characters.
std::string QuoteForMessage(absl::string_view s);

// The reason of a status made by MakeError; "" for OK, INTERNAL otherwise.
std::string ReasonOf(const absl::Status& status);

}  // namespace fetchpool

#endif  // FETCHPOOL_COMMON_REASON_H_
