#include "client-sdk/cpp/client_status.h"

#include "absl/strings/cord.h"

namespace fetchpool {
namespace client {

std::string ErrorReason(const absl::Status& status) {
  if (status.ok()) return "";
  auto payload = status.GetPayload(kReasonPayloadUrl);
  if (!payload.has_value()) return "";
  return std::string(*payload);
}

absl::Status StatusFromGrpc(const grpc::Status& status, const grpc::ClientContext& context) {
  if (status.ok()) return absl::OkStatus();
  // grpc::StatusCode and absl::StatusCode share the canonical numbering.
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(grpc::string_ref(kReasonTrailerKey.data(), kReasonTrailerKey.size()));
  if (it != trailers.end() && !it->second.empty()) {
    result.SetPayload(kReasonPayloadUrl, absl::Cord(absl::string_view(it->second.data(), it->second.size())));
  }
  return result;
}

}  // namespace client
}  // namespace fetchpool
