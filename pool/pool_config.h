#ifndef FETCHPOOL_POOL_POOL_CONFIG_H_
#define FETCHPOOL_POOL_POOL_CONFIG_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fetchpool {

// Limits of one host's pool: what the pool itself enforces. How a fetch
// uses a connection (timeouts, body limits, the deadline policy) is the
// engine's (engine/fetch_config.h). Defaults are the embedded defaults.
struct HostPoolConfig {
  uint32_t max_connections = 64;
  // 0 means "same as max_connections". Never defaults to a tiny cap: closing
  // all but 2 connections after a burst is how TIME_WAIT storms start.
  uint32_t max_idle_connections = 0;
  uint32_t max_waiters = 4096;
  absl::Duration wait_timeout = absl::Seconds(5);
  absl::Duration idle_timeout = absl::Seconds(30);
  // Connections older than this are closed when released instead of reused,
  // so DNS changes and load-balancer rebalancing reach long-lived pools.
  // Zero: no limit.
  absl::Duration max_connection_lifetime = absl::ZeroDuration();
  // Follow the origin's "Keep-Alive: timeout=N" by lowering idle_timeout to
  // N minus a margin, so we never reuse a connection the origin is closing.
  bool learn_keep_alive = true;
  // HTTP/2: the most concurrent streams the pool puts on one multiplexed
  // connection to this host (the origin's SETTINGS_MAX_CONCURRENT_STREAMS
  // may lower it further; HostPool::MarkConnected). At least 1. Lowering it
  // live applies to new streams; running streams are not cut.
  uint32_t max_streams_per_connection = 100;
  // The transport may negotiate a multiplexed protocol (HTTP/2) with this
  // host (set by the engine from the host's protocol setting). While a
  // connection to such a host is being established and its protocol is not
  // known yet, callers wait for its streams rather than open more
  // connections (like curl's CURLOPT_PIPEWAIT).
  bool may_multiplex = false;

  uint32_t EffectiveMaxIdle() const {
    return max_idle_connections == 0 ? max_connections : max_idle_connections;
  }
  // INVALID_ARGUMENT naming the bad field, e.g. a zero cap or a 30ns timeout.
  absl::Status Validate() const;
};

// Durations below 1ms are almost always a unit mistake (fasthttp users set
// MaxIdleConnDuration: 30, i.e. 30ns), so they are refused rather than
// obeyed; so are durations over 24h. INVALID_ARGUMENT naming `name`.
absl::Status CheckDuration(const char* name, absl::Duration d);

}  // namespace fetchpool

#endif  // FETCHPOOL_POOL_POOL_CONFIG_H_
