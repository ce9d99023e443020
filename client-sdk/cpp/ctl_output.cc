#include "client-sdk/cpp/ctl_output.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client-sdk/cpp/client_status.h"

namespace fetchpool {
namespace client {
namespace {

std::string FormatProtoDuration(const google::protobuf::Duration& d) {
  return absl::FormatDuration(absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos()));
}

}  // namespace

std::string FormatRpcError(const absl::Status& status) {
  std::string code = absl::StatusCodeToString(status.code());
  std::string reason = ErrorReason(status);
  if (reason.empty()) return absl::StrCat("error: ", code, ": ", status.message());
  absl::string_view message = status.message();
  absl::ConsumePrefix(&message, absl::StrCat(reason, ": "));
  return absl::StrCat("error: ", code, " ", reason, ": ", message);
}

std::string FormatResponseHead(const fetchpool::v1::FetchResponse& response) {
  std::string head = absl::StrCat(response.http_version().empty() ? "HTTP" : response.http_version(), " ",
                                  response.status(), "\r\n");
  for (const auto& header : response.headers()) absl::StrAppend(&head, header.name(), ": ", header.value(), "\r\n");
  absl::StrAppend(&head, "\r\n");
  return head;
}

std::string FormatTimingSummary(const fetchpool::v1::FetchResponse& response) {
  const auto& t = response.timing();
  return absl::StrCat("queue_wait=", FormatProtoDuration(t.queue_wait()), " dns=", FormatProtoDuration(t.dns()),
                      " connect=", FormatProtoDuration(t.connect()), " tls=", FormatProtoDuration(t.tls()),
                      " first_byte=", FormatProtoDuration(t.first_byte()), " total=", FormatProtoDuration(t.total()),
                      " reused=", response.connection_reused() ? "true" : "false", " pool=", response.pool());
}

absl::StatusOr<std::string> FormatStatsJson(const fetchpool::v1::StatsResponse& stats) {
  google::protobuf::util::JsonPrintOptions options;
  // An idle pool's zeros are data: without this its counters vanish.
  options.always_print_primitive_fields = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(stats, &json, options);
  if (!status.ok()) return absl::InternalError(absl::StrCat("cannot print stats as JSON: ", status.ToString()));
  return json;
}

}  // namespace client
}  // namespace fetchpool
