#ifndef FETCHPOOL_ENGINE_POOL_REGISTRY_H_
#define FETCHPOOL_ENGINE_POOL_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "engine/caller_pool_quota.h"
#include "engine/engine_config.h"
#include "engine/event_loop.h"
#include "engine/time_wait_counter.h"
#include "pool/host_pool.h"
#include "pool/pool_timer.h"

namespace fetchpool {

// A host's pool and what the engine keeps beside it.
struct PoolEntry {
  std::unique_ptr<HostPool> pool;
  // The host's fetch settings in the loop's current config (an aliasing
  // pointer: it keeps that whole EngineConfig alive). A fetch copies it
  // when it asks this pool for a connection (FetchOp::fetch).
  std::shared_ptr<const FetchConfig> fetch;
  // Addresses this pool connected to, for the kernel's TIME_WAIT count.
  absl::flat_hash_set<std::string> remotes;
  // The caller whose fetch created the pool (FetchSpec::caller).
  std::string creator;
  // HTTP/2: the origin's SETTINGS_MAX_CONCURRENT_STREAMS, once a connection
  // ran into it (libcurl 7.88 reports it no other way); 0: not known.
  uint32_t origin_max_streams = 0;
};

// One event loop's pools: created on demand, woken by loop timers that the
// pools arm themselves, evicted when empty for a while, snapshotted for
// Stats. The pool count across every loop is bounded by one shared counter
// (EngineConfig::max_pools). Loop thread only: it reads the config its
// loop owns, which Reconfigure swaps on that thread.
class PoolRegistry final : private TimerFactory {
 public:
  PoolRegistry(std::shared_ptr<const EngineConfig> config, EventLoop& loop,
               Transport& transport, std::atomic<uint32_t>& pools_in_engine,
               CallerPoolQuota& quota);
  ~PoolRegistry() override;
  PoolRegistry(const PoolRegistry&) = delete;
  PoolRegistry& operator=(const PoolRegistry&) = delete;

  // The pool keyed `key`, created for `caller` if needed; null with
  // CALLER_QUOTA_EXCEEDED in `error` when `caller` has created its quota of
  // pools this minute, or QUEUE_FULL when the engine holds max_pools pools
  // none of which can go.
  PoolEntry* FindOrCreate(const std::string& key, const std::string& caller,
                          absl::Status* error);
  // The pool keyed `key`, or null.
  PoolEntry* Find(const std::string& key) {
    auto it = pools_.find(key);
    return it == pools_.end() ? nullptr : it->second.get();
  }
  // Remembers that `entry`'s pool connected to `address` (bounded).
  void NoteRemote(PoolEntry* entry, const std::string& address);

  // Starts the periodic sweep that evicts empty pools.
  void StartEvictionSweep();
  void EvictIdlePools();

  // Snapshots of this loop's pools (all, or the one keyed `pool_key`), with
  // the kernel's TIME_WAIT counts by remote added in; `totals` sums them all.
  void Snapshot(const std::string& pool_key, const TimeWaitCounts* time_wait,
                std::vector<HostPoolStatsSnapshot>* pools, HostPoolStatsSnapshot* totals);

  // Takes `config` (validated, with nothing restart-only changed) for
  // what comes next: max_pools and evict_empty_pool_after at once, every
  // pool's limits through HostPool::Reconfigure, its fetch settings for
  // fetches that ask it from now on. Pools of hosts whose per_host entry
  // was added or removed change to that entry or to the defaults.
  void Reconfigure(std::shared_ptr<const EngineConfig> config);

  void FailAllWaiters(const absl::Status& status);
  // Destroys every pool (closing their connections).
  void Clear();
  size_t size() const { return pools_.size(); }
  absl::Status CheckInvariants() const;

 private:
  std::unique_ptr<PoolTimer> CreateTimer(absl::AnyInvocable<void()> on_fire) override;
  void Erase(absl::flat_hash_map<std::string, std::unique_ptr<PoolEntry>>::iterator it);
  // The table is full even after the sweep: frees a place by evicting one
  // empty pool early (see the .cc). False: none of this loop's pools is empty.
  bool EvictEmptyPoolFor(const std::string& caller);

  std::shared_ptr<const EngineConfig> config_;  // replaced only by Reconfigure
  EventLoop& loop_;
  Transport& transport_;
  std::atomic<uint32_t>& pools_in_engine_;
  CallerPoolQuota& quota_;
  absl::flat_hash_map<std::string, std::unique_ptr<PoolEntry>> pools_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_POOL_REGISTRY_H_
