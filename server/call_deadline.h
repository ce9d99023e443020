#ifndef FETCHPOOL_SERVER_CALL_DEADLINE_H_
#define FETCHPOOL_SERVER_CALL_DEADLINE_H_

#include <grpcpp/server_context.h>

#include <chrono>

#include "absl/time/time.h"
#include "pool/clock.h"

namespace fetchpool {

// The call's gRPC deadline (wall clock) on the engine's monotonic clock;
// InfiniteFuture when the caller set none.
inline absl::Time CallDeadline(const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  const auto left = deadline - std::chrono::system_clock::now();
  return MonotonicClock::Get().Now() + absl::FromChrono(left);
}

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_CALL_DEADLINE_H_
