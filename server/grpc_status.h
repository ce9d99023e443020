#ifndef FETCHPOOL_SERVER_GRPC_STATUS_H_
#define FETCHPOOL_SERVER_GRPC_STATUS_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace fetchpool {

// The trailing-metadata key that carries the stable reason of an error.
inline constexpr char kReasonTrailer[] = "fetchpool-reason";

// absl::Status inside, grpc::Status at the edge: same code, message
// "REASON: message", and the reason in the `fetchpool-reason` trailer
// (added to `context` before the call finishes).
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_GRPC_STATUS_H_
