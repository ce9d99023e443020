#ifndef FETCHPOOL_CLIENT_SDK_CPP_CTL_OUTPUT_H_
#define FETCHPOOL_CLIENT_SDK_CPP_CTL_OUTPUT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool {
namespace client {

// "error: UNAVAILABLE CONNECT_REFUSED: connect to http://api:80 refused", or
// "error: DEADLINE_EXCEEDED: Deadline Exceeded" when the status has no reason.
// The server already starts its message with "REASON: "; it is not repeated.
std::string FormatRpcError(const absl::Status& status);

// What curl -i prints before the body: "HTTP/1.1 200\r\n", the headers,
// then an empty line.
std::string FormatResponseHead(const fetchpool::v1::FetchResponse& response);

// One line, no newline: "queue_wait=0 dns=1.2ms connect=0.3ms tls=0
// first_byte=4ms total=6ms reused=false pool=http://api:80".
std::string FormatTimingSummary(const fetchpool::v1::FetchResponse& response);

// The StatsResponse as one line of JSON, default values included.
absl::StatusOr<std::string> FormatStatsJson(const fetchpool::v1::StatsResponse& stats);

}  // namespace client
}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_CTL_OUTPUT_H_
