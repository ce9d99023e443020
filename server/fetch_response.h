#ifndef FETCHPOOL_SERVER_FETCH_RESPONSE_H_
#define FETCHPOOL_SERVER_FETCH_RESPONSE_H_

#include "absl/status/status.h"
#include "engine/fetch_types.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool {

// Moves a finished fetch into the wire response (the body is moved, not copied).
void FillFetchResponse(FetchResult result, v1::FetchResponse* out);

// A failed fetch inside a FetchStream: code, stable reason and message.
void FillFetchError(const absl::Status& status, v1::FetchResponse* out);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_FETCH_RESPONSE_H_
