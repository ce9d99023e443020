#ifndef FETCHPOOL_ENGINE_URL_H_
#define FETCHPOOL_ENGINE_URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fetchpool {

struct HttpUrl {
  std::string url;       // normalized, without fragment
  std::string scheme;    // "http" or "https"
  std::string host;      // lower-case; IPv6 without brackets
  int port = 0;          // explicit, 80/443 by default
  std::string pool_key;  // "scheme://host:port", IPv6 in brackets
};

// Parses an absolute http(s) URL with libcurl's URL parser (the same one
// that will send the request), or resolves `url` against `base` when `base`
// is given (for redirects). Errors carry INVALID_URL / UNSUPPORTED_SCHEME.
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url, absl::string_view base = "");

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_URL_H_
