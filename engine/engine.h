#ifndef FETCHPOOL_ENGINE_ENGINE_H_
#define FETCHPOOL_ENGINE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/destination_policy.h"
#include "engine/fetch_types.h"
#include "pool/clock.h"
#include "pool/pool_config.h"
#include "pool/pool_stats.h"

namespace fetchpool {

struct EngineConfig {
  HostPoolConfig defaults;
  // Per-host overrides, keyed by pool key ("http://api:80").
  absl::flat_hash_map<std::string, HostPoolConfig> per_host;
  std::vector<std::string> allow_cidrs;
  // An empty pool (no connections, no waiters) is dropped after this long.
  absl::Duration evict_empty_pool_after = absl::Minutes(2);
  // Most pools kept at once; a fetch to a new host beyond it is refused
  // (RESOURCE_EXHAUSTED / QUEUE_FULL) until empty pools are evicted.
  uint32_t max_pools = 100000;
  // Notable engine events (pool created, pool evicted), for the service's
  // structured log; called on the loop thread. Unset: not reported.
  std::function<void(const std::string& event,
                     const std::vector<std::pair<std::string, std::string>>& fields)>
      log_event;

  const HostPoolConfig& ForHost(const std::string& pool_key) const;
};

class EngineImpl;

// Runs fetches on per-host pools of curl connections, all driven by one
// event-loop thread (epoll + timers, curl's multi_socket API). Every public
// method is thread-safe and returns at once; results arrive through callbacks
// run on the loop thread.
class Engine {
 public:
  using FetchId = uint64_t;

  // Starts the loop thread. INVALID_ARGUMENT for a bad config.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(EngineConfig config);
  ~Engine();  // Shutdown(ZeroDuration()) then joins the loop

  // Queues a fetch; `done` runs exactly once. The id lets Cancel find it.
  FetchId Fetch(FetchSpec spec, FetchCallback done);
  // The caller went away: a waiting fetch leaves the queue, a running one is
  // aborted or drained per its policy; its callback runs with CANCELLED.
  void Cancel(FetchId id);

  // Pool snapshots (all pools, or the one keyed `pool_key`), taken on the
  // loop thread and delivered on a thread of their own, in request order,
  // so what the caller builds from them does not hold up fetches.
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

  // Runs `fn` on the loop thread after `delay` (periodic work such as
  // WatchStats). If the engine stops first, `fn` is destroyed without running.
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn);

  // Runs `fn` on the loop thread and waits for it (tests: CheckInvariants).
  void RunOnLoopAndWait(absl::AnyInvocable<void()> fn);
  // OK, or the first pool invariant that does not hold (runs on the loop).
  absl::Status CheckInvariants();

 private:
  explicit Engine(std::unique_ptr<EngineImpl> impl);
  std::unique_ptr<EngineImpl> impl_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_ENGINE_H_
