#ifndef FETCHPOOL_CLIENT_SDK_CPP_CLIENT_STATUS_H_
#define FETCHPOOL_CLIENT_SDK_CPP_CLIENT_STATUS_H_

#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fetchpool {
namespace client {

// Trailing metadata key in which fetchpool sends the stable error reason.
inline constexpr absl::string_view kReasonTrailerKey = "fetchpool-reason";

// Payload URL under which the reason travels on an absl::Status. It is the
// same URL the server uses internally (common/reason.cc), so a status coming
// out of the client reads the same way as one made inside fetchpool.
inline constexpr absl::string_view kReasonPayloadUrl = "fetchpool.dev/reason";

// The stable reason of a failed call ("WAIT_TIMEOUT", "CONNECT_REFUSED", ...;
// README "Error reasons"). "" for OK and for errors that never reached
// fetchpool's request handling (channel down, gRPC deadline, cancellation),
// which carry no reason: switch on the status code for those.
std::string ErrorReason(const absl::Status& status);

// The absl::Status for a finished call: same code and message, plus the
// `fetchpool-reason` trailer (if any) as a payload. `context` must belong to
// the finished call.
absl::Status StatusFromGrpc(const grpc::Status& status, const grpc::ClientContext& context);

}  // namespace client
}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_CLIENT_STATUS_H_
