#include "engine/pool_registry.h"

#include "absl/strings/str_cat.h"
#include "common/reason.h"

namespace fetchpool {
namespace {

constexpr absl::Duration kEvictionSweepInterval = absl::Seconds(5);
// A name can resolve to many addresses; remembering a few per pool is
// enough to find its TIME_WAIT sockets without unbounded growth.
constexpr size_t kMaxRemotesPerPool = 64;

// A pool's timer on the event loop. Cancelled when re-armed or destroyed,
// so a timer never outlives the pool that owns it.
class LoopTimer final : public PoolTimer {
 public:
  LoopTimer(EventLoop& loop, absl::AnyInvocable<void()> on_fire)
      : loop_(loop), on_fire_(std::move(on_fire)) {}
  ~LoopTimer() override { Cancel(); }

  void ArmAt(absl::Time when) override {
    Cancel();
    if (when == absl::InfiniteFuture()) return;
    id_ = loop_.AddTimer(when, [this] {
      id_ = 0;
      on_fire_();
    });
  }

 private:
  void Cancel() {
    if (id_ != 0) loop_.CancelTimer(id_);
    id_ = 0;
  }

  EventLoop& loop_;
  absl::AnyInvocable<void()> on_fire_;
  EventLoop::TimerId id_ = 0;
};

}  // namespace

PoolRegistry::PoolRegistry(const EngineConfig& config, EventLoop& loop, Transport& transport,
                           std::atomic<uint32_t>& pools_in_engine)
    : config_(config), loop_(loop), transport_(transport), pools_in_engine_(pools_in_engine) {}

PoolRegistry::~PoolRegistry() { Clear(); }

std::unique_ptr<PoolTimer> PoolRegistry::CreateTimer(absl::AnyInvocable<void()> on_fire) {
  return std::make_unique<LoopTimer>(loop_, std::move(on_fire));
}

PoolEntry* PoolRegistry::FindOrCreate(const std::string& key, absl::Status* error) {
  auto it = pools_.find(key);
  if (it != pools_.end()) return it->second.get();
  // Reserve a place in the engine-wide count first, so loops creating
  // pools at once cannot overshoot max_pools together.
  auto reserve = [&] {
    uint32_t held = pools_in_engine_.load();
    while (held < config_.max_pools) {
      if (pools_in_engine_.compare_exchange_weak(held, held + 1)) return true;
    }
    return false;
  };
  if (!reserve()) {
    EvictIdlePools();
    if (!reserve()) {
      *error = MakeError(Reason::kQueueFull,
                         absl::StrCat("fetchpool holds ", pools_in_engine_.load(),
                                      " host pools, its limit (--max_pools); cannot add ", key));
      return nullptr;
    }
  }
  const HostConfig& host = config_.ForHost(key);
  auto entry = std::make_unique<PoolEntry>();
  TimerFactory* timers = this;  // a private base: converted here, where it is accessible
  entry->pool = std::make_unique<HostPool>(key, host.pool, loop_.clock(), transport_, timers);
  entry->fetch = &host.fetch;
  PoolEntry* raw = entry.get();
  pools_.emplace(key, std::move(entry));
  if (config_.log_event) {
    config_.log_event("pool_created", {{"pool", key},
                                       {"max_connections", absl::StrCat(host.pool.max_connections)},
                                       {"pools", absl::StrCat(pools_in_engine_.load())}});
  }
  return raw;
}

void PoolRegistry::NoteRemote(PoolEntry* entry, const std::string& address) {
  if (!address.empty() && entry->remotes.size() < kMaxRemotesPerPool) {
    entry->remotes.insert(address);
  }
}

void PoolRegistry::StartEvictionSweep() {
  loop_.AddTimer(loop_.clock().Now() + kEvictionSweepInterval, [this] {
    EvictIdlePools();
    StartEvictionSweep();
  });
}

void PoolRegistry::EvictIdlePools() {
  const absl::Time now = loop_.clock().Now();
  for (auto it = pools_.begin(); it != pools_.end();) {
    auto current = it++;
    HostPool* pool = current->second->pool.get();
    pool->OnTimer();  // idle connections past their time close first
    if (!pool->Empty() || now - pool->last_used() < config_.evict_empty_pool_after) continue;
    if (config_.log_event) {
      const HostPoolStatsSnapshot& c = pool->counters();
      config_.log_event("pool_evicted",
                        {{"pool", pool->key()},
                         {"idle_for", absl::FormatDuration(absl::Trunc(now - pool->last_used(),
                                                                       absl::Milliseconds(1)))},
                         {"requests_total", absl::StrCat(c.requests_total)},
                         {"connections_opened_total", absl::StrCat(c.connections_opened_total)}});
    }
    Erase(current);
  }
}

void PoolRegistry::Erase(absl::flat_hash_map<std::string, std::unique_ptr<PoolEntry>>::iterator it) {
  pools_.erase(it);
  pools_in_engine_.fetch_sub(1);
}

void PoolRegistry::Snapshot(const std::string& pool_key, const TimeWaitCounts* time_wait,
                            std::vector<HostPoolStatsSnapshot>* pools,
                            HostPoolStatsSnapshot* totals) {
  for (auto& [key, entry] : pools_) {
    HostPoolStatsSnapshot snap = entry->pool->Snapshot();
    if (time_wait != nullptr) {
      for (const std::string& remote : entry->remotes) {
        auto it = time_wait->find(remote);
        if (it != time_wait->end()) snap.time_wait_kernel += it->second;
      }
    }
    totals->Accumulate(snap);
    if (pool_key.empty() || pool_key == key) pools->push_back(std::move(snap));
  }
}

void PoolRegistry::FailAllWaiters(const absl::Status& status) {
  for (auto& [key, entry] : pools_) entry->pool->FailAllWaiters(status);
}

void PoolRegistry::Clear() {
  pools_in_engine_.fetch_sub(static_cast<uint32_t>(pools_.size()));
  pools_.clear();
}

absl::Status PoolRegistry::CheckInvariants() const {
  for (const auto& [key, entry] : pools_) {
    absl::Status s = entry->pool->CheckInvariants();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace fetchpool
