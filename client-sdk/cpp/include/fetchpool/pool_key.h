#ifndef FETCHPOOL_POOL_KEY_H_
#define FETCHPOOL_POOL_KEY_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace fetchpool {

// The pool key fetchpoold files `url` under ("http://example.com:80"),
// computed as the server does (client-sdk/README.md, "Pool key"): scheme and
// host lower-cased, the port always written, IPv6 in RFC 5952 form in
// brackets, IPv4 in any numeric form as a dotted quad. nullopt when the URL
// is not an http(s) URL that fetchpoold would accept.
absl::optional<std::string> PoolKey(absl::string_view url);

}  // namespace fetchpool

#endif  // FETCHPOOL_POOL_KEY_H_
