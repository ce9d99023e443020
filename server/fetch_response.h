#ifndef FETCHPOOL_SERVER_FETCH_RESPONSE_H_
#define FETCHPOOL_SERVER_FETCH_RESPONSE_H_

#include <google/protobuf/arena.h>

#include <cstddef>

#include "absl/status/status.h"
#include "engine/fetch_types.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool {

// Arena options whose first block is `block` (`size` bytes, 8-aligned, owned
// by the caller and outliving the arena): an answer's messages then cost no
// allocation of their own while they fit.
google::protobuf::ArenaOptions ArenaOptionsWithFirstBlock(char* block, size_t size);

// Moves a finished fetch into the wire response (the body is moved, not copied).
void FillFetchResponse(FetchResult result, v1::FetchResponse* out);

// A failed fetch inside a FetchStream: code, stable reason and message.
void FillFetchError(const absl::Status& status, v1::FetchResponse* out);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_FETCH_RESPONSE_H_
