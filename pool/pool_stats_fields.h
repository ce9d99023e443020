#ifndef FETCHPOOL_POOL_POOL_STATS_FIELDS_H_
#define FETCHPOOL_POOL_POOL_STATS_FIELDS_H_

// The one list of per-host pool statistics. It is expanded into
// HostPoolStatsSnapshot (below), into the HostPoolStats proto filling
// (server/stats_proto.cc: a field missing from the proto fails to compile)
// and into the Prometheus metrics, so the three cannot drift apart.
//
// X(name, type, kind, help)
//   kind: kGauge (summed in totals), kGaugeMax (max in totals), kCounter.
#define FETCHPOOL_HOST_POOL_STATS(X)                                                         \
  X(max_connections, uint32_t, kGauge, "Connection cap of the pool")                          \
  X(max_idle_connections, uint32_t, kGauge, "Idle connection cap of the pool")                \
  X(busy_connections, uint32_t, kGauge, "Connections carrying a request")                     \
  X(streams_in_use, uint32_t, kGauge, "Requests in flight over all connections (streams)")    \
  X(max_streams_per_connection, uint32_t, kGaugeMax,                                          \
    "Streams per connection learned from the origin (1: HTTP/1.1; 0: not known yet)")        \
  X(idle_connections, uint32_t, kGauge, "Open connections waiting for reuse")                 \
  X(connecting_connections, uint32_t, kGauge, "Connections being established")                \
  X(wait_queue_length, uint32_t, kGauge, "Callers waiting for a connection (live only)")      \
  X(oldest_waiter_age_us, uint64_t, kGaugeMax, "Age of the oldest waiting caller, us")        \
  X(time_wait_estimate, uint32_t, kGauge, "Sockets fetchpool closed first in the last 60s")   \
  X(idle_timeout_ms, uint64_t, kGaugeMax, "Idle timeout in force (after Keep-Alive hints)")   \
  X(time_wait_kernel, uint32_t, kGauge, "TIME_WAIT sockets toward the pool, kernel count")    \
  X(requests_total, uint64_t, kCounter, "Fetches that asked this pool for a connection")      \
  X(reused_requests_total, uint64_t, kCounter, "Fetches served on a reused connection")       \
  X(connections_opened_total, uint64_t, kCounter, "Connections opened")                       \
  X(connections_closed_total, uint64_t, kCounter, "Connections closed, for any reason")       \
  X(local_closes_total, uint64_t, kCounter, "Closes where fetchpool closed first")            \
  X(closed_idle_timeout_total, uint64_t, kCounter, "Connections closed by the idle timer")     \
  X(closed_upstream_total, uint64_t, kCounter, "Connections the origin closed")               \
  X(closed_aborted_total, uint64_t, kCounter, "Connections aborted with a request in flight") \
  X(closed_error_total, uint64_t, kCounter, "Connections closed after a transport error")     \
  X(closed_max_lifetime_total, uint64_t, kCounter, "Connections closed at their max lifetime") \
  X(closed_idle_overflow_total, uint64_t, kCounter, "Released while the idle list was full")   \
  X(closed_shutdown_total, uint64_t, kCounter, "Connections closed by shutdown or eviction")   \
  X(dns_lookups_total, uint64_t, kCounter, "Name resolutions (DNS cache misses)")            \
  X(stale_caught_total, uint64_t, kCounter, "Idle connections found dead before reuse")       \
  X(retries_total, uint64_t, kCounter, "Fetches replayed once on a fresh connection")         \
  X(refused_streams_total, uint64_t, kCounter,                                                \
    "Fetches sent again: the origin never processed their HTTP/2 stream")                    \
  X(wait_timeouts_total, uint64_t, kCounter, "Waiters whose wait deadline passed")            \
  X(cancelled_waiters_total, uint64_t, kCounter, "Waiters whose call was cancelled")          \
  X(queue_full_total, uint64_t, kCounter, "Fetches refused because the queue was full")       \
  X(failures_total, uint64_t, kCounter, "Fetches that ended in an error")                   \
  X(tls_handshakes_total, uint64_t, kCounter, "TLS handshakes on new connections")            \
  X(tls_sessions_resumed_total, uint64_t, kCounter, "TLS handshakes that resumed a session")

// The per-host latency histograms, expanded the same way (same buckets,
// LatencyHistogram): H(name, metric name, help).
#define FETCHPOOL_HOST_POOL_HISTOGRAMS(H)                                                      \
  H(queue_wait, "fetchpool_queue_wait_seconds", "Time fetches waited for a connection")        \
  H(fetch_time, "fetchpool_fetch_seconds", "Fetch time from arrival to last byte")             \
  H(tls_handshake_time, "fetchpool_tls_handshake_seconds",                                     \
    "TLS handshake time of new connections (TCP connected to TLS established)")

#endif  // FETCHPOOL_POOL_POOL_STATS_FIELDS_H_
