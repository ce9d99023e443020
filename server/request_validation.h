#ifndef FETCHPOOL_SERVER_REQUEST_VALIDATION_H_
#define FETCHPOOL_SERVER_REQUEST_VALIDATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/fetch_types.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool {

// The one place a caller's FetchRequest is checked. Everything past this point
// (engine, pools, curl) trusts the FetchSpec. Every failure is a MakeError()
// status with an INVALID_ARGUMENT reason (INVALID_METHOD, INVALID_URL,
// UNSUPPORTED_SCHEME, INVALID_HEADER, INVALID_OPTION, INVALID_REQUEST) and a
// message naming the bad part and quoting it. FetchSpec.deadline is left at
// InfiniteFuture: the gRPC layer sets it from the call.
absl::StatusOr<FetchSpec> ValidateFetchRequest(const fetchpool::v1::FetchRequest& request);

// The same, but a valid request's body is moved into the FetchSpec instead of
// copied (request->body() is then moved-from); every other field of
// `request`, and the body of an invalid request, is left as it was.
absl::StatusOr<FetchSpec> ValidateFetchRequestTakingBody(fetchpool::v1::FetchRequest* request);

// Canonical form of a pool key written by a person (config file, Stats
// filter): "HTTP://API" -> "http://api:80". INVALID_URL / UNSUPPORTED_SCHEME
// for anything that is not scheme://host[:port] with an optional "/" path.
absl::StatusOr<std::string> NormalizePoolKey(absl::string_view pool_key);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_REQUEST_VALIDATION_H_
