// The pool key as fetchpoold computes it (engine/url.cc ParseHttpUrl), with
// the same URL parser, libcurl's URL API, so the two cannot disagree on an
// odd URL. The pieces both take from it are one copy (common/curl_url_parts);
// the client does not link the server's engine.
#include "fetchpool/pool_key.h"

#include <curl/curl.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/curl_url_parts.h"

namespace fetchpool {

absl::optional<std::string> PoolKey(absl::string_view url) {
  // The scheme is checked first, as the server does, so a libcurl that knows
  // other schemes cannot make a key for one.
  if (!absl::StartsWithIgnoreCase(url, "http://") && !absl::StartsWithIgnoreCase(url, "https://")) {
    return absl::nullopt;
  }
  if (FindBadUrlByte(url) != absl::string_view::npos) return absl::nullopt;
  CurluPtr h(curl_url());
  if (h == nullptr) return absl::nullopt;
  const std::string url_str(url);
  if (curl_url_set(h.get(), CURLUPART_URL, url_str.c_str(), 0) != CURLUE_OK) return absl::nullopt;
  if (GetUrlPart(h.get(), CURLUPART_USER) || GetUrlPart(h.get(), CURLUPART_PASSWORD) ||
      GetUrlPart(h.get(), CURLUPART_OPTIONS)) {
    return absl::nullopt;  // fetchpoold refuses user info
  }
  absl::optional<std::string> host = GetUrlPart(h.get(), CURLUPART_HOST);
  if (!host.has_value() || host->empty() || *host == "[]") return absl::nullopt;
  if (host->front() != '[' && !std::all_of(host->begin(), host->end(), IsHostNameChar)) {
    return absl::nullopt;
  }
  absl::optional<std::string> port = GetUrlPart(h.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!port.has_value() || *port == "0") return absl::nullopt;
  absl::optional<std::string> scheme = GetUrlPart(h.get(), CURLUPART_SCHEME);
  if (!scheme.has_value()) return absl::nullopt;
  absl::optional<std::string> zone = GetUrlPart(h.get(), CURLUPART_ZONEID);
  return absl::StrCat(absl::AsciiStrToLower(*scheme), "://", PoolKeyHost(*host, zone), ":", *port);
}

}  // namespace fetchpool
