#ifndef FETCHPOOL_COMMON_CURL_URL_PARTS_H_
#define FETCHPOOL_COMMON_CURL_URL_PARTS_H_

// The pieces of a pool key that fetchpoold (engine/url.cc ParseHttpUrl) and
// the C++ SDK (client-sdk/cpp/pool_key.cc) both take from libcurl's URL API.
// One copy, so the key the SDK sends as `fetchpool-pool-key` cannot drift
// from the one the server reports. No gRPC and no engine: the client links it.

#include <curl/curl.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace fetchpool {

struct CurluDeleter {
  void operator()(CURLU* h) const { curl_url_cleanup(h); }
};
using CurluPtr = std::unique_ptr<CURLU, CurluDeleter>;

// One part of a parsed URL; nullopt when curl says it is absent.
absl::optional<std::string> GetUrlPart(CURLU* h, CURLUPart part, unsigned flags = 0);

// A byte of a plain DNS name (punycode included) as a pool key allows it.
bool IsHostNameChar(char c);

// The first byte a URL must not contain raw (space, control, non-ASCII), or npos.
size_t FindBadUrlByte(absl::string_view url);

// The host as it goes into a pool key: lower-case (DNS names are not case
// sensitive, and one host must map to one pool), IPv6 in canonical form
// inside brackets so [::FFFF:7F00:1] and [::ffff:127.0.0.1] share a pool,
// with its zone (URL-encoded, "%25eth0") kept.
std::string PoolKeyHost(const std::string& host, const absl::optional<std::string>& zone);

}  // namespace fetchpool

#endif  // FETCHPOOL_COMMON_CURL_URL_PARTS_H_
