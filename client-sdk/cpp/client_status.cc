#include "client-sdk/cpp/client_status.h"

#include "absl/strings/cord.h"

namespace fetchpool {

std::string ErrorReason(const absl::Status& status) {
  if (status.ok()) return "";
  auto payload = status.GetPayload(kReasonPayloadUrl);
  if (!payload.has_value()) return "";
  return std::string(*payload);
}

absl::Status StatusWithReason(int code, absl::string_view message, absl::string_view reason) {
  // grpc::StatusCode and absl::StatusCode share the canonical numbering.
  absl::Status result(static_cast<absl::StatusCode>(code), message);
  if (!result.ok() && !reason.empty()) result.SetPayload(kReasonPayloadUrl, absl::Cord(reason));
  return result;
}

absl::Status StatusFromGrpc(const grpc::Status& status, const grpc::ClientContext& context) {
  if (status.ok()) return absl::OkStatus();
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(grpc::string_ref(kReasonTrailerKey.data(), kReasonTrailerKey.size()));
  absl::string_view reason;
  if (it != trailers.end()) reason = absl::string_view(it->second.data(), it->second.size());
  return StatusWithReason(status.error_code(), status.error_message(), reason);
}

}  // namespace fetchpool
