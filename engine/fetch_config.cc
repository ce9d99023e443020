#include "engine/fetch_config.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/tls_setup.h"

namespace fetchpool {

bool MayMultiplex(absl::string_view pool_key, HttpVersion version) {
  if (version == HttpVersion::kHttp11) return false;
  if (absl::StartsWith(pool_key, "https://")) return true;
  return version == HttpVersion::kH2c;
}

absl::Status FetchConfig::Validate() const {
  if (max_response_bytes == 0) {
    return absl::InvalidArgumentError("max_response_bytes must be positive");
  }
  for (auto [name, d] : {std::pair{"connect_timeout", connect_timeout},
                         std::pair{"drain_timeout", drain_timeout}}) {
    absl::Status s = CheckDuration(name, d);
    if (!s.ok()) return s;
  }
  if (absl::Status s = ValidateOriginLimits(); !s.ok()) return s;
  return CheckTlsFiles(*this);
}

absl::Status FetchConfig::ValidateOriginLimits() const {
  if (max_response_header_bytes < 1024 || max_response_header_bytes > (64u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_response_header_bytes is ", max_response_header_bytes,
        "; it must be from 1024 to 67108864 (64 MiB)"));
  }
  if (max_response_headers == 0 || max_response_headers > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_response_headers is ", max_response_headers, "; it must be from 1 to 100000"));
  }
  if (min_transfer_speed > 0) {
    const absl::Duration w = min_transfer_speed_window;
    if (w < absl::Seconds(1) || w > absl::Hours(1) ||
        absl::Trunc(w, absl::Seconds(1)) != w) {
      return absl::InvalidArgumentError(absl::StrCat(
          "min_transfer_speed_window is ", absl::FormatDuration(w),
          "; it must be whole seconds from 1s to 1h (curl measures it in seconds)"));
    }
  }
  if (max_request_time != absl::ZeroDuration()) {
    absl::Status s = CheckDuration("max_request_time", max_request_time);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status HostConfig::Validate() const {
  absl::Status s = pool.Validate();
  if (!s.ok()) return s;
  return fetch.Validate();
}

absl::StatusOr<HttpVersion> ParseHttpVersion(absl::string_view text) {
  if (text == "auto") return HttpVersion::kAuto;
  if (text == "h2c") return HttpVersion::kH2c;
  if (text == "http1.1") return HttpVersion::kHttp11;
  return absl::InvalidArgumentError(absl::StrCat("\"", absl::CHexEscape(text),
                                                 "\" is not an HTTP version; write auto, h2c "
                                                 "or http1.1"));
}

std::string HttpVersionName(HttpVersion version) {
  switch (version) {
    case HttpVersion::kAuto:
      return "auto";
    case HttpVersion::kH2c:
      return "h2c";
    case HttpVersion::kHttp11:
      break;
  }
  return "http1.1";
}

}  // namespace fetchpool
