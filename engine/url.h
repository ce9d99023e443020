#ifndef FETCHPOOL_ENGINE_URL_H_
#define FETCHPOOL_ENGINE_URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fetchpool {

struct HttpUrl {
  std::string url;       // curl's normalized form, fragment removed
  std::string pool_key;  // "scheme://host:port": host lower-case, IPv6 canonical, port explicit
  std::string path;
  bool has_query = false;
  bool has_fragment = false;
};

// The one URL parser: request validation and redirects both use it, so a
// host written two ways always lands in the same pool. Parses an absolute
// http(s) URL with libcurl's URL API (no I/O); refuses raw spaces, control
// and non-ASCII bytes, user info, odd decoded hosts and port 0. `field`
// names the request field in messages ("url", "pool key", "Location").
// Errors carry INVALID_URL / UNSUPPORTED_SCHEME.
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view field, absl::string_view url);

// `reference` (a redirect's Location, maybe relative) resolved against the
// absolute URL `base`, as an absolute URL.
absl::StatusOr<std::string> ResolveUrl(absl::string_view base, absl::string_view reference);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_URL_H_
