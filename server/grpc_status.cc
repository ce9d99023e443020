#include "server/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/reason.h"

namespace fetchpool {

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context) {
  if (status.ok()) return grpc::Status::OK;
  const std::string reason = ReasonOf(status);
  if (context != nullptr) context->AddTrailingMetadata(kReasonTrailer, reason);
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      absl::StrCat(reason, ": ", status.message()));
}

}  // namespace fetchpool
