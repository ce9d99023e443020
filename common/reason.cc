#include "common/reason.h"

#include "absl/types/optional.h"

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace fetchpool {
namespace {
constexpr absl::string_view kReasonPayloadUrl = "fetchpool.dev/reason";
}  // namespace

absl::string_view ReasonName(Reason reason) {
  switch (reason) {
#define FETCHPOOL_REASON_NAME(name, str, code) \
  case Reason::name:                           \
    return str;
    FETCHPOOL_REASONS(FETCHPOOL_REASON_NAME)
#undef FETCHPOOL_REASON_NAME
  }
  return "INTERNAL";
}

absl::StatusCode ReasonCode(Reason reason) {
  switch (reason) {
#define FETCHPOOL_REASON_CODE(name, str, code) \
  case Reason::name:                           \
    return absl::StatusCode::code;
    FETCHPOOL_REASONS(FETCHPOOL_REASON_CODE)
#undef FETCHPOOL_REASON_CODE
  }
  return absl::StatusCode::kInternal;
}

absl::Status MakeError(Reason reason, absl::string_view message) {
  absl::Status status(ReasonCode(reason), message);
  status.SetPayload(kReasonPayloadUrl, absl::Cord(ReasonName(reason)));
  return status;
}

std::string QuoteForMessage(absl::string_view s) {
  constexpr size_t kMaxQuoted = 80;
  std::string out = "\"";
  size_t i = 0;
  for (; i < s.size(); ++i) {
    std::string piece = absl::CHexEscape(s.substr(i, 1));
    if (out.size() - 1 + piece.size() > kMaxQuoted) break;
    out += piece;
  }
  out += '"';
  if (i < s.size()) absl::StrAppend(&out, "... (", s.size(), " bytes)");
  return out;
}

std::string ReasonOf(const absl::Status& status) {
  if (status.ok()) return "";
  auto payload = status.GetPayload(kReasonPayloadUrl);
  if (!payload.has_value()) return std::string(ReasonName(Reason::kInternal));
  return std::string(*payload);
}

}  // namespace fetchpool
