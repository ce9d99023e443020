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

// The pool's limits for `key`, with what the engine derives from the
// host's fetch settings: whether its connections may multiplex.
HostPoolConfig PoolConfigFor(const std::string& key, const HostConfig& host) {
  HostPoolConfig pool = host.pool;
  pool.may_multiplex = MayMultiplex(key, host.fetch.http_version);
  return pool;
}

}  // namespace

PoolRegistry::PoolRegistry(std::shared_ptr<const EngineConfig> config, EventLoop& loop,
                           Transport& transport, std::atomic<uint32_t>& pools_in_engine,
                           CallerPoolQuota& quota)
    : config_(std::move(config)),
      loop_(loop),
      transport_(transport),
      pools_in_engine_(pools_in_engine),
      quota_(quota) {}

PoolRegistry::~PoolRegistry() { Clear(); }

std::unique_ptr<PoolTimer> PoolRegistry::CreateTimer(absl::AnyInvocable<void()> on_fire) {
  return std::make_unique<LoopTimer>(loop_, std::move(on_fire));
}

PoolEntry* PoolRegistry::FindOrCreate(const std::string& key, const std::string& caller,
                                       absl::Status* error) {
  auto it = pools_.find(key);
  if (it != pools_.end()) return it->second.get();
  if (!quota_.TryTake(caller, loop_.clock().Now())) {
    *error = MakeError(Reason::kCallerQuota,
                       absl::StrCat("caller \"", caller, "\" created ", quota_.per_minute(),
                                    " new host pools in the last minute, its limit "
                                    "(--max_new_pools_per_caller_per_minute); cannot add ",
                                    key));
    return nullptr;
  }
  // Reserve a place in the engine-wide count first, so loops creating
  // pools at once cannot overshoot max_pools together.
  auto reserve = [&] {
    uint32_t held = pools_in_engine_.load();
    while (held < config_->max_pools) {
      if (pools_in_engine_.compare_exchange_weak(held, held + 1)) return true;
    }
    return false;
  };
  if (!reserve()) {
    EvictIdlePools();
    if (!reserve() && !(EvictEmptyPoolFor(caller) && reserve())) {
      quota_.GiveBack(caller);
      *error = MakeError(Reason::kQueueFull,
                         absl::StrCat("fetchpool holds ", pools_in_engine_.load(),
                                      " host pools, its limit (--max_pools); cannot add ", key));
      return nullptr;
    }
  }
  const HostConfig& host = config_->ForHost(key);
  auto entry = std::make_unique<PoolEntry>();
  TimerFactory* timers = this;  // a private base: converted here, where it is accessible
  entry->pool = std::make_unique<HostPool>(key, PoolConfigFor(key, host), loop_.clock(), transport_,
                                           timers);
  entry->fetch = std::shared_ptr<const FetchConfig>(config_, &host.fetch);
  entry->creator = caller;
  PoolEntry* raw = entry.get();
  pools_.emplace(key, std::move(entry));
  if (config_->log_event) {
    config_->log_event("pool_created",
                       {{"pool", key},
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
    if (!pool->Empty() || now - pool->last_used() < config_->evict_empty_pool_after) continue;
    if (config_->log_event) {
      const HostPoolStatsSnapshot& c = pool->counters();
      config_->log_event("pool_evicted",
                         {{"pool", pool->key()},
                          {"idle_for", absl::FormatDuration(absl::Trunc(now - pool->last_used(),
                                                                        absl::Milliseconds(1)))},
                          {"requests_total", absl::StrCat(c.requests_total)},
                          {"connections_opened_total", absl::StrCat(c.connections_opened_total)}});
    }
    Erase(current);
  }
}

// An empty pool holds no connection and no waiter, so evicting one before
// evict_empty_pool_after costs only its counters in Stats: far better than
// refusing a new host. Whose pool goes decides who pays for a full table:
// the asking caller's own oldest empty pool first (a caller cycling through
// many hosts recycles its own places), otherwise the oldest empty pool of
// the caller holding the most pools on this loop (the greedy one), never a
// lighter caller's while a heavier one has an empty pool here.
bool PoolRegistry::EvictEmptyPoolFor(const std::string& caller) {
  using Iterator = absl::flat_hash_map<std::string, std::unique_ptr<PoolEntry>>::iterator;
  struct Candidate {
    size_t pools = 0;
    Iterator oldest_empty;
    bool has_empty = false;
  };
  absl::flat_hash_map<absl::string_view, Candidate> by_creator;
  for (auto it = pools_.begin(); it != pools_.end(); ++it) {
    Candidate& c = by_creator[it->second->creator];
    ++c.pools;
    HostPool* pool = it->second->pool.get();
    if (!pool->Empty()) continue;
    if (!c.has_empty || pool->last_used() < c.oldest_empty->second->pool->last_used()) {
      c.oldest_empty = it;
      c.has_empty = true;
    }
  }
  const Candidate* victim = nullptr;
  auto own = by_creator.find(caller);
  if (own != by_creator.end() && own->second.has_empty) {
    victim = &own->second;
  } else {
    for (const auto& [creator, c] : by_creator) {
      if (c.has_empty && (victim == nullptr || c.pools > victim->pools)) victim = &c;
    }
  }
  if (victim == nullptr) return false;
  Iterator it = victim->oldest_empty;
  if (config_->log_event) {
    config_->log_event("pool_evicted", {{"pool", it->first},
                                        {"why", "the pool table is full"},
                                        {"creator", it->second->creator},
                                        {"for_caller", caller}});
  }
  Erase(it);
  return true;
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

void PoolRegistry::Reconfigure(std::shared_ptr<const EngineConfig> config) {
  loop_.AssertInLoopThread("PoolRegistry");
  config_ = std::move(config);
  // A raised cap hands connections to waiters at once, and their lease
  // callbacks start transfers: walk a copy of the keys and look each pool
  // up again, so whatever a callback does to the table (a new pool, an
  // eviction) cannot pull it from under the walk.
  std::vector<std::string> keys;
  keys.reserve(pools_.size());
  for (const auto& [key, entry] : pools_) keys.push_back(key);
  for (const std::string& key : keys) {
    auto it = pools_.find(key);
    if (it == pools_.end()) continue;
    PoolEntry* entry = it->second.get();
    const HostConfig& host = config_->ForHost(key);
    entry->fetch = std::shared_ptr<const FetchConfig>(config_, &host.fetch);
    // Cannot fail: the engine validated every host's settings first.
    absl::Status applied = entry->pool->Reconfigure(PoolConfigFor(key, host));
    (void)applied;
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
