#ifndef FETCHPOOL_CLIENT_SDK_CPP_CLIENT_STATUS_H_
#define FETCHPOOL_CLIENT_SDK_CPP_CLIENT_STATUS_H_

#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fetchpool/error_reason.h"

namespace fetchpool {

// Trailing metadata key in which fetchpool sends the stable error reason.
inline constexpr absl::string_view kReasonTrailerKey = "fetchpool-reason";

// Call metadata carrying the request URL's pool key (README "Pool key").
inline constexpr absl::string_view kPoolKeyMetadataKey = "fetchpool-pool-key";

// Payload URL under which the reason travels on an absl::Status. It is the
// same URL the server uses internally (common/reason.cc), so a status coming
// out of the client reads the same way as one made inside fetchpool.
inline constexpr absl::string_view kReasonPayloadUrl = "fetchpool.dev/reason";

// An absl::Status with `code` and `message`, carrying `reason` when not "".
absl::Status StatusWithReason(int code, absl::string_view message, absl::string_view reason);

// The absl::Status for a finished call: same code and message, plus the
// `fetchpool-reason` trailer (if any) as a payload. `context` must belong to
// the finished call.
absl::Status StatusFromGrpc(const grpc::Status& status, const grpc::ClientContext& context);

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_CLIENT_STATUS_H_
