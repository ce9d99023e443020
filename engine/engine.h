#ifndef FETCHPOOL_ENGINE_ENGINE_H_
#define FETCHPOOL_ENGINE_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine_config.h"
#include "engine/fetch_types.h"
#include "pool/pool_stats.h"

namespace fetchpool {

class EngineImpl;

// Runs fetches on per-host pools of curl connections, spread over
// EngineConfig::event_loops event-loop threads (epoll + timers + a curl
// multi each). A host's pool lives on exactly one loop, chosen by a hash of
// its pool key, so its connection cap and FIFO order are exact. Every
// public method is thread-safe and returns at once; fetch results arrive
// through callbacks run on the loop of the fetch's host.
class Engine {
 public:
  using FetchId = uint64_t;

  // Starts the loop threads. INVALID_ARGUMENT for a bad config.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(EngineConfig config);
  ~Engine();  // Shutdown(ZeroDuration()) then joins the loops

  // Queues a fetch on its host's loop; `done` runs exactly once, on a loop
  // thread. The id (never 0) lets Cancel find it.
  FetchId Fetch(FetchSpec spec, FetchCallback done);
  // The caller went away: a waiting fetch leaves the queue, a running one is
  // aborted or drained per its policy; its callback runs with CANCELLED.
  void Cancel(FetchId id);

  // Pool snapshots (all pools, or the one keyed `pool_key`), taken on each
  // loop and delivered on a thread of their own, in request order, so what
  // the caller builds from them does not hold up fetches.
  // `totals` sums all pools, whatever the filter.
  struct StatsResult {
    std::vector<HostPoolStatsSnapshot> pools;
    HostPoolStatsSnapshot totals;
    uint32_t pool_count = 0;
  };
  void GetStats(std::string pool_key, absl::AnyInvocable<void(StatsResult)> done);

  // Stops taking fetches (new ones fail SHUTTING_DOWN), lets running and
  // queued ones finish until `grace` passes, then fails what is left and
  // closes every connection. Idempotent; blocks until done.
  void Shutdown(absl::Duration grace);

  // Applies `config` to new work without dropping in-flight fetches.
  // Thread-safe; returns once every loop has taken it. INVALID_ARGUMENT
  // (naming the setting) when it does not validate or when it changes a
  // setting that cannot change live (CheckLiveChange: event_loops, TLS
  // toward origins); the running config is then untouched. FAILED_PRECONDITION
  // after Shutdown.
  //
  // Live: per-host pool limits (HostPool::Reconfigure: nothing busy is
  // killed, a lowered cap converges as connections are released, a raised
  // one serves queued waiters at once), fetch settings and timeouts, the
  // deadline policy, the per_host map (hosts added, changed, removed),
  // destination policy and egress profiles (a fetch resolves against the
  // whole old set or the whole new one), max_pools, evict_empty_pool_after,
  // max_buffered_bytes, max_new_pools_per_caller_per_minute and log_event.
  // A fetch keeps the settings its host had when it asked that host's pool
  // for a connection; fetches (and waiters) that arrive later get the new
  // ones. Waits for every loop: call it from a thread of the caller's, not
  // from a fetch callback.
  absl::Status Reconfigure(EngineConfig config);

  // Runs `fn` on a loop thread after `delay` (periodic work such as
  // WatchStats). If the engine stops first, `fn` is destroyed without running.
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn);

  uint32_t event_loops() const;
  // Response bytes held now against EngineConfig::max_buffered_bytes (any
  // thread), and the fetches refused for it so far.
  uint64_t buffered_bytes() const;
  uint64_t max_buffered_bytes() const;
  uint64_t buffer_budget_refusals() const;

  // fetchpool's own listening addresses as bound ("0.0.0.0:50051",
  // "127.0.0.1:9464"): no fetch may connect to them, under any profile (a
  // wildcard host means that port on loopback and every local interface).
  // The server calls it once its ports are bound; thread-safe.
  absl::Status SetSelfAddresses(const std::vector<std::string>& listen);

 private:
  friend class EngineTestPeer;  // tests/engine/engine_test_peer.h
  explicit Engine(std::unique_ptr<EngineImpl> impl);
  std::unique_ptr<EngineImpl> impl_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_ENGINE_H_
