#ifndef FETCHPOOL_ERROR_REASON_H_
#define FETCHPOOL_ERROR_REASON_H_

#include <string>

#include "absl/status/status.h"

namespace fetchpool {

// The stable reason of a failed call ("WAIT_TIMEOUT", "CONNECT_REFUSED", ...;
// README "Error reasons"), from the `fetchpool-reason` trailer or a
// FetchStream answer's error. "" for OK and for errors that never reached
// fetchpool's request handling (channel down, gRPC deadline, cancellation),
// which carry no reason: switch on the status code for those.
std::string ErrorReason(const absl::Status& status);

}  // namespace fetchpool

#endif  // FETCHPOOL_ERROR_REASON_H_
