#ifndef FETCHPOOL_POOL_POOL_CONFIG_H_
#define FETCHPOOL_POOL_POOL_CONFIG_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fetchpool {

// What happens to a transfer whose caller stopped waiting (deadline passed,
// or the body outgrew the caller's size limit).
enum class OnDeadline {
  // Close the connection now. We close first, so the socket sits in
  // TIME_WAIT here for 60 s and a new connection replaces it.
  kAbort,
  // Answer the caller at once, let the response finish in the background
  // within the drain budget, and keep the connection if it ends cleanly.
  kDrain,
};

// Limits of one host's pool. Defaults are the service's embedded defaults.
struct HostPoolConfig {
  uint32_t max_connections = 64;
  // 0 means "same as max_connections". Never defaults to a tiny cap: closing
  // all but 2 connections after a burst is how TIME_WAIT storms start.
  uint32_t max_idle_connections = 0;
  uint32_t max_waiters = 4096;
  absl::Duration wait_timeout = absl::Seconds(5);
  absl::Duration idle_timeout = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(5);
  // Connections older than this are closed when released instead of reused,
  // so DNS changes and load-balancer rebalancing reach long-lived pools.
  // Zero: no limit.
  absl::Duration max_connection_lifetime = absl::ZeroDuration();
  uint64_t max_response_bytes = 4000000;  // fits gRPC's default 4 MiB message cap
  OnDeadline on_deadline = OnDeadline::kDrain;
  // Budget for draining a response after its caller left (kDrain).
  uint64_t drain_max_bytes = 1 << 20;
  absl::Duration drain_timeout = absl::Seconds(2);
  // Follow the origin's "Keep-Alive: timeout=N" by lowering idle_timeout to
  // N minus a margin, so we never reuse a connection the origin is closing.
  bool learn_keep_alive = true;

  uint32_t EffectiveMaxIdle() const {
    return max_idle_connections == 0 ? max_connections : max_idle_connections;
  }
  // INVALID_ARGUMENT naming the bad field, e.g. a zero cap or a 30ns timeout.
  absl::Status Validate() const;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_POOL_POOL_CONFIG_H_
