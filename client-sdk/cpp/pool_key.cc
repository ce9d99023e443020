// The pool key as fetchpoold computes it (engine/url.cc ParseHttpUrl), with
// the same URL parser, libcurl's URL API, so the two cannot disagree on an
// odd URL; the client does not link the server's engine.
#include "fetchpool/pool_key.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fetchpool {
namespace {

struct CurluDeleter {
  void operator()(CURLU* h) const { curl_url_cleanup(h); }
};

absl::optional<std::string> GetPart(CURLU* h, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(h, part, &value, flags) != CURLUE_OK || value == nullptr) return absl::nullopt;
  std::string out(value);
  curl_free(value);
  return out;
}

bool IsHostNameChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_'; }

// Lower-case; IPv6 in canonical form inside brackets, the zone kept.
std::string PoolKeyHost(const std::string& host, const absl::optional<std::string>& zone) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string inner = host.substr(1, host.size() - 2);
    in6_addr addr;
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_pton(AF_INET6, inner.c_str(), &addr) == 1 &&
        inet_ntop(AF_INET6, &addr, buf, sizeof(buf)) != nullptr) {
      inner = buf;
    }
    if (zone.has_value() && !zone->empty()) absl::StrAppend(&inner, "%25", *zone);
    return absl::StrCat("[", absl::AsciiStrToLower(inner), "]");
  }
  return absl::AsciiStrToLower(host);
}

}  // namespace

absl::optional<std::string> PoolKey(absl::string_view url) {
  // The scheme is checked first, as the server does, so a libcurl that knows
  // other schemes cannot make a key for one.
  if (!absl::StartsWithIgnoreCase(url, "http://") && !absl::StartsWithIgnoreCase(url, "https://")) {
    return absl::nullopt;
  }
  if (std::any_of(url.begin(), url.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f;
      })) {
    return absl::nullopt;
  }
  std::unique_ptr<CURLU, CurluDeleter> h(curl_url());
  if (h == nullptr) return absl::nullopt;
  const std::string url_str(url);
  if (curl_url_set(h.get(), CURLUPART_URL, url_str.c_str(), 0) != CURLUE_OK) return absl::nullopt;
  if (GetPart(h.get(), CURLUPART_USER) || GetPart(h.get(), CURLUPART_PASSWORD) ||
      GetPart(h.get(), CURLUPART_OPTIONS)) {
    return absl::nullopt;  // fetchpoold refuses user info
  }
  absl::optional<std::string> host = GetPart(h.get(), CURLUPART_HOST);
  if (!host.has_value() || host->empty() || *host == "[]") return absl::nullopt;
  if (host->front() != '[' && !std::all_of(host->begin(), host->end(), IsHostNameChar)) {
    return absl::nullopt;
  }
  absl::optional<std::string> port = GetPart(h.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!port.has_value() || *port == "0") return absl::nullopt;
  absl::optional<std::string> scheme = GetPart(h.get(), CURLUPART_SCHEME);
  if (!scheme.has_value()) return absl::nullopt;
  absl::optional<std::string> zone = GetPart(h.get(), CURLUPART_ZONEID);
  return absl::StrCat(absl::AsciiStrToLower(*scheme), "://", PoolKeyHost(*host, zone), ":", *port);
}

}  // namespace fetchpool
