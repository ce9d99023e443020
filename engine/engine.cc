#include "engine/engine.h"

#include <curl/curl.h>

#include <atomic>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "engine/egress_profile_set.h"
#include "engine/self_addresses.h"
#include "engine/engine_loop.h"
#include "engine/engine_test_peer.h"
#include "engine/fetch_op.h"
#include "engine/task_thread.h"
#include "engine/time_wait_counter.h"

namespace fetchpool {
namespace {

// A fetch id carries its loop in the low bits, so Cancel goes straight there.
constexpr int kLoopBits = 8;
static_assert(kMaxEventLoops == (1u << kLoopBits));

// How old the kernel's TIME_WAIT count in Stats may be.
constexpr absl::Duration kTimeWaitRecount = absl::Seconds(1);

// FNV-1a: a stable hash, so a host lands on the same loop run after run.
uint64_t StableHash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

// The facade: the loops, the thread hop to them, and what spans them
// (stats gathering, shutdown, reconfiguration, fetches that move between
// loops). Public methods: any thread.
class EngineImpl final : public LoopRouter {
 public:
  EngineImpl(EngineConfig config, EgressProfileSet profiles)
      : config_(std::move(config)),
        profiles_(std::make_shared<const EgressProfileSet>(std::move(profiles))),
        time_wait_(kTimeWaitRecount),
        quota_(config_.max_new_pools_per_caller_per_minute),
        budget_(std::make_shared<BufferBudget>(config_.max_buffered_bytes)) {
    const uint32_t n = config_.event_loops == 0 ? UsableCpuCount() : config_.event_loops;
    loops_.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      // Each loop owns a copy of its own: Reconfigure swaps it on the loop's
      // thread, with no lock on the fetch path.
      loops_.push_back(std::make_unique<EngineLoop>(
          i, std::make_shared<const EngineConfig>(config_), self_, *this, pools_in_engine_,
          time_wait_, quota_, budget_));
    }
  }

  ~EngineImpl() { Shutdown(absl::ZeroDuration()); }

  absl::Status SetSelfAddresses(const std::vector<std::string>& listen) {
    return self_.Set(listen);
  }

  uint32_t loop_count() const { return static_cast<uint32_t>(loops_.size()); }
  const BufferBudget& budget() const { return *budget_; }

  // ---- public API (any thread) ----

  uint64_t Fetch(FetchSpec spec, FetchCallback done) {
    const uint32_t loop = LoopFor(spec.pool_key);
    const uint64_t id = ((next_seq_.fetch_add(1) + 1) << kLoopBits) | loop;
    auto op = std::make_unique<FetchOp>();
    op->id = id;
    op->spec = std::move(spec);
    op->done = std::move(done);
    op->arrived = MonotonicClock::Get().Now();
    // The profile is settled here, before any pool or connection work; a
    // refusal is answered on the loop like every other answer.
    absl::StatusOr<std::shared_ptr<const EgressProfile>> profile =
        CurrentProfiles()->Resolve(op->spec.caller, op->spec.egress_profile);
    if (profile.ok()) op->refused = (*profile)->CheckRequest(op->spec);
    if (!profile.ok()) {
      op->refused = profile.status();
    } else if (op->refused.ok()) {
      op->profile = *std::move(profile);
    }
    EngineLoop* target = loops_[loop].get();
    target->Post([target, op = std::move(op)]() mutable { target->fetches().Start(std::move(op)); });
    return id;
  }

  void Cancel(uint64_t id) {
    EngineLoop* target = loops_[id & (kMaxEventLoops - 1)].get();
    target->Post([target, id] { target->fetches().Cancel(id); });
  }

  void GetStats(std::string pool_key, absl::AnyInvocable<void(Engine::StatsResult)> done) {
    // Each loop snapshots its own pools; the parts are merged on the stats
    // thread, which alone touches `gather`, and delivered when the last
    // arrives. Each loop answers requests in order, so answers keep the
    // order of the requests.
    struct Gather {
      size_t missing;
      Engine::StatsResult result;
      absl::AnyInvocable<void(Engine::StatsResult)> done;
    };
    auto gather = std::make_shared<Gather>();
    gather->missing = loops_.size();
    gather->done = std::move(done);
    for (auto& loop : loops_) {
      EngineLoop* l = loop.get();
      l->Post([this, l, gather, pool_key] {
        stats_delivery_.Post([gather, part = l->CollectStats(pool_key)]() mutable {
          Engine::StatsResult& r = gather->result;
          r.pool_count += part.pool_count;
          r.totals.Accumulate(part.totals);
          if (r.pools.empty()) {
            r.pools = std::move(part.pools);
          } else {
            r.pools.insert(r.pools.end(), std::make_move_iterator(part.pools.begin()),
                           std::make_move_iterator(part.pools.end()));
          }
          if (--gather->missing == 0) gather->done(std::move(r));
        });
      });
    }
  }

  absl::Status Reconfigure(EngineConfig next) {
    // Everything that can fail is checked before anything changes.
    absl::Status valid = ValidateEngineConfig(next);
    if (!valid.ok()) return valid;
    absl::StatusOr<EgressProfileSet> profiles = EgressProfileSet::Create(next);
    if (!profiles.ok()) return profiles.status();
    // One Reconfigure at a time, and none racing Shutdown.
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (stopped_) {
      return absl::FailedPreconditionError("the engine has shut down; nothing to reconfigure");
    }
    absl::Status live = CheckLiveChange(config_, next, loop_count());
    if (!live.ok()) return live;
    // Compared with what was asked at start, not with the loop count a
    // later config happened to name.
    next.event_loops = config_.event_loops;
    // Engine-wide limits: atomics read on every use.
    quota_.SetPerMinute(next.max_new_pools_per_caller_per_minute);
    budget_->SetLimit(next.max_buffered_bytes);
    {
      // A fetch resolves against the whole old set or the whole new one.
      std::lock_guard<std::mutex> profiles_lock(profiles_mu_);
      profiles_ = std::make_shared<const EgressProfileSet>(*std::move(profiles));
    }
    for (auto& loop : loops_) {
      auto copy = std::make_shared<const EngineConfig>(next);
      EngineLoop* l = loop.get();
      l->RunAndWait([l, copy = std::move(copy)]() mutable { l->Reconfigure(std::move(copy)); });
    }
    config_ = std::move(next);
    return absl::OkStatus();
  }

  void RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) {
    EngineLoop* l = loops_[0].get();
    l->Post([l, delay, fn = std::move(fn)]() mutable {
      l->loop().AddTimer(l->loop().clock().Now() + delay, std::move(fn));
    });
  }

  void Shutdown(absl::Duration grace) {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (stopped_) return;
    for (auto& loop : loops_) loop->RunAndWait([&] { loop->StopTakingFetches(); });
    // Let queued and running fetches finish within the grace period.
    const absl::Time give_up = absl::Now() + grace;
    while (absl::Now() < give_up && !AllIdle()) absl::SleepFor(absl::Milliseconds(10));
    // A fetch moving between loops lands on a loop that has stopped taking
    // fetches and is answered there, so tearing the loops down one by one
    // loses nothing.
    for (auto& loop : loops_) loop->RunAndWait([&] { loop->TearDown(); });
    for (auto& loop : loops_) loop->StopAndJoin();
    stats_delivery_.Stop();  // delivers the snapshots already taken
    stopped_ = true;
  }

  absl::Status CheckInvariants() {
    absl::Status result;
    for (auto& loop : loops_) {
      loop->RunAndWait([&] {
        if (result.ok()) result = loop->CheckInvariants();
      });
    }
    return result;
  }

  void RunOnEveryLoopAndWait(absl::AnyInvocable<void()>& fn) {
    for (auto& loop : loops_) loop->RunAndWait([&] { fn(); });
  }
  void RunOnLoopAndWait(uint32_t loop, absl::AnyInvocable<void()>& fn) {
    loops_.at(loop)->RunAndWait([&] { fn(); });
  }

  // ---- LoopRouter (loop threads) ----

  uint32_t LoopFor(const std::string& pool_key) const override {
    return loops_.size() == 1 ? 0 : static_cast<uint32_t>(StableHash(pool_key) % loops_.size());
  }
  void Migrate(uint32_t to, std::unique_ptr<FetchOp> op) override {
    EngineLoop* target = loops_[to].get();
    target->Post([target, op = std::move(op)]() mutable { target->fetches().Adopt(std::move(op)); });
  }
  void ForwardCancel(uint32_t to, uint64_t id) override {
    EngineLoop* target = loops_[to].get();
    target->Post([target, id] { target->fetches().Cancel(id); });
  }
  void ForgetMoved(uint64_t id) override {
    for (auto& loop : loops_) {
      EngineLoop* l = loop.get();
      l->Post([l, id] { l->fetches().ForgetMoved(id); });
    }
  }

 private:
  bool AllIdle() {
    for (auto& loop : loops_) {
      bool idle = false;
      loop->RunAndWait([&] { idle = loop->Idle(); });
      if (!idle) return false;
    }
    return true;
  }

  std::shared_ptr<const EgressProfileSet> CurrentProfiles() const {
    std::lock_guard<std::mutex> lock(profiles_mu_);
    return profiles_;
  }

  // Serializes Shutdown() and Reconfigure() callers. std::mutex, not
  // absl::Mutex: see EventLoop::post_mu_.
  std::mutex shutdown_mu_;
  bool stopped_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  // The config in force, which Reconfigure checks the next one against.
  // The loops read copies of their own, never this one.
  EngineConfig config_ ABSL_GUARDED_BY(shutdown_mu_);
  // Swapped whole by Reconfigure; Fetch takes a reference under the lock
  // and resolves outside it.
  mutable std::mutex profiles_mu_;
  std::shared_ptr<const EgressProfileSet> profiles_ ABSL_GUARDED_BY(profiles_mu_);
  SelfAddresses self_;  // set by the server once it has bound its ports
  std::atomic<uint32_t> pools_in_engine_{0};
  TimeWaitCache time_wait_;
  CallerPoolQuota quota_;
  std::shared_ptr<BufferBudget> budget_;
  TaskThread stats_delivery_;  // merges and delivers GetStats answers
  // Declared after what they use, so they stop first.
  std::vector<std::unique_ptr<EngineLoop>> loops_;
  std::atomic<uint64_t> next_seq_{0};
};

// ---------------------------------------------------------------------------
// Engine

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(EngineConfig config) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  absl::Status valid = ValidateEngineConfig(config);
  if (!valid.ok()) return valid;
  absl::StatusOr<EgressProfileSet> profiles = EgressProfileSet::Create(config);
  if (!profiles.ok()) return profiles.status();
  return std::unique_ptr<Engine>(
      new Engine(std::make_unique<EngineImpl>(std::move(config), *std::move(profiles))));
}

Engine::Engine(std::unique_ptr<EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Engine::FetchId Engine::Fetch(FetchSpec spec, FetchCallback done) {
  return impl_->Fetch(std::move(spec), std::move(done));
}
void Engine::Cancel(FetchId id) { impl_->Cancel(id); }
void Engine::GetStats(std::string pool_key, absl::AnyInvocable<void(StatsResult)> done) {
  impl_->GetStats(std::move(pool_key), std::move(done));
}
void Engine::Shutdown(absl::Duration grace) { impl_->Shutdown(grace); }
absl::Status Engine::Reconfigure(EngineConfig config) {
  return impl_->Reconfigure(std::move(config));
}
void Engine::RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  impl_->RunAfter(delay, std::move(fn));
}
uint32_t Engine::event_loops() const { return impl_->loop_count(); }
absl::Status Engine::SetSelfAddresses(const std::vector<std::string>& listen) {
  return impl_->SetSelfAddresses(listen);
}
uint64_t Engine::buffered_bytes() const { return impl_->budget().used(); }
uint64_t Engine::max_buffered_bytes() const { return impl_->budget().limit(); }
uint64_t Engine::buffer_budget_refusals() const { return impl_->budget().refused_total(); }

absl::Status EngineTestPeer::CheckInvariants(Engine& engine) {
  return engine.impl_->CheckInvariants();
}
void EngineTestPeer::RunOnEveryLoopAndWait(Engine& engine, absl::AnyInvocable<void()> fn) {
  engine.impl_->RunOnEveryLoopAndWait(fn);
}
void EngineTestPeer::RunOnLoopAndWait(Engine& engine, uint32_t loop,
                                      absl::AnyInvocable<void()> fn) {
  engine.impl_->RunOnLoopAndWait(loop, fn);
}
uint32_t EngineTestPeer::LoopFor(Engine& engine, const std::string& pool_key) {
  return engine.impl_->LoopFor(pool_key);
}

}  // namespace fetchpool
