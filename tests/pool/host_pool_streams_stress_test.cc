// Randomised schedule over HostPool with multiplexed (HTTP/2) and HTTP/1.1
// slots: pools whose origin answers HTTP/1.1, HTTP/2 with a stream limit,
// or a mix of both; acquires (some replays), MarkConnected, releases with
// every ExchangeEnd, unused leases given back, GOAWAY, cancels, the clock
// and the timer, dead connections, CloseAllIdle, FailAllWaiters and live
// Reconfigure, with lease callbacks that re-enter the pool. After every
// operation: CheckInvariants() plus the test's model (each held lease is one
// stream: the streams per slot and in total match, no held slot is idle,
// every callback runs once). Every few thousand operations the pool is
// drained, proven whole (books balance, nothing left open) and rebuilt.
//
// Environment:
//   FETCHPOOL_STREAMS_STRESS_OPS  operations per seed (default 100000)
//   FETCHPOOL_STRESS_SEED         run only this seed (to replay a failure)
//   FETCHPOOL_STRESS_SEED_BASE    run seeds BASE+1..BASE+4 (soak new schedules)

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "pool/host_pool.h"
#include "tests/pool/fake_clock.h"
#include "tests/pool/fake_transport.h"

namespace fetchpool {
namespace {

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

class StreamsStress {
 public:
  explicit StreamsStress(uint64_t seed) : seed_(seed), rng_(seed * 0x9E3779B97F4A7C15ull + 1) {}

  void Run(uint64_t ops) {
    for (uint64_t epoch = 0; step_ < ops && !failed_; ++epoch) {
      NewPool();
      const uint64_t end = std::min(ops, step_ + Uniform(500, 5000));
      for (; step_ < end && !failed_; ++step_) {
        OneOperation();
        Check();
      }
      if (!failed_) Drain();
    }
  }
  bool failed() const { return failed_; }
  std::string Summary() const {
    return absl::StrCat("seed ", seed_, ": ", step_, " ops, ", pools_, " pools, ", leases_,
                        " leases (", fresh_, " fresh, ", shared_, " shared), ", refused_,
                        " refused, ", reentries_, " re-entrant calls, ", max_streams_seen_, " streams on one connection at most");
  }
  uint64_t shared() const { return shared_; }

 private:
  struct Held {
    Slot* slot;
    bool fresh;  // holds a connecting slot until MarkConnected
    uint64_t id;
  };
  struct Waiting {
    HostPool::WaiterId id;
    uint64_t outcome;
  };

  uint64_t Uniform(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  void Fail(const std::string& what) {
    if (failed_) return;
    failed_ = true;
    ADD_FAILURE() << "seed " << seed_ << " step " << step_ << ": " << what << " (last op "
                  << last_op_ << ")";
  }

  HostPoolConfig RandomConfig() {
    HostPoolConfig c;
    const uint32_t caps[] = {1, 2, 3, 4, 8};
    c.max_connections = caps[Uniform(0, 4)];
    c.max_idle_connections = Chance(0.5) ? 0 : static_cast<uint32_t>(Uniform(1, c.max_connections));
    const uint32_t waiters[] = {0, 2, 8, 64};
    c.max_waiters = waiters[Uniform(0, 3)];
    const uint32_t streams[] = {1, 2, 3, 8, 100};
    c.max_streams_per_connection = streams[Uniform(0, 4)];
    c.may_multiplex = Chance(0.7);
    c.idle_timeout = absl::Milliseconds(static_cast<int64_t>(Uniform(50, 2000)));
    c.wait_timeout = absl::Seconds(5);
    c.max_connection_lifetime =
        Chance(0.7) ? absl::ZeroDuration() : absl::Milliseconds(static_cast<int64_t>(Uniform(50, 3000)));
    return c;
  }

  void NewPool() {
    transport_ = std::make_unique<FakeTransport>();
    config_ = RandomConfig();
    // What the origin answers: HTTP/1.1, HTTP/2 with some limit, or a mix.
    const uint32_t limits[] = {1, 1, 2, 4, 10, 100, 1000};
    origin_limit_ = limits[Uniform(0, 6)];
    mixed_ = Chance(0.3);
    pool_ = std::make_unique<HostPool>("stress", config_, clock_, *transport_);
    ++pools_;
    held_.clear();
    waiting_.clear();
  }

  HostPool::LeaseCallback Callback(uint64_t outcome) {
    return [this, outcome](absl::StatusOr<Lease> result) {
      if (++calls_[outcome] != 1) Fail(absl::StrCat("callback ", outcome, " ran twice"));
      waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(),
                                    [&](const Waiting& w) { return w.outcome == outcome; }),
                     waiting_.end());
      if (result.ok()) {
        const Lease& lease = *result;
        if (lease.fresh && lease.slot->state() != Slot::State::kConnecting) {
          Fail("fresh lease on a connected slot");
        }
        // (Whether a shared lease still has company, or its slot is not
        // going away, depends on the callbacks run before it in the same
        // batch, which may release re-entrantly: the unit tests check those.)
        ++leases_;
        fresh_ += lease.fresh;
        shared_ += lease.shared;
        max_streams_seen_ = std::max(max_streams_seen_, lease.slot->streams_in_use());
        if (pool_ == nullptr) return Fail("a lease while the pool is destroyed");
        absl::Status s = pool_->CheckInvariants();
        if (!s.ok()) Fail(absl::StrCat("in callback: ", s.ToString()));
        // Re-entrant: a fetch that ends at once (e.g. refused after the
        // lease) releases inside its callback.
        if (!lease.fresh && Chance(0.05)) {
          ++reentries_;
          if (Chance(0.5)) {
            pool_->ReturnUnused(lease.slot);
          } else {
            pool_->Release(lease.slot, Chance(0.7) ? ExchangeEnd::kComplete : ExchangeEnd::kFailed);
          }
        } else {
          held_.push_back(Held{lease.slot, lease.fresh, outcome});
        }
      } else {
        ++refused_;
        // Re-entrant: a refused caller asks again at once.
        if (Chance(0.05) && pool_ != nullptr) {
          ++reentries_;
          const uint64_t again = next_outcome_++;
          const HostPool::WaiterId id = pool_->Acquire(
              clock_.Now() + absl::Milliseconds(static_cast<int64_t>(Uniform(1, 1000))),
              Callback(again));
          if (id != 0) waiting_.push_back(Waiting{id, again});
        }
      }
      if (pool_ == nullptr) return;  // the pool is being destroyed
      absl::Status s = pool_->CheckInvariants();
      if (!s.ok()) Fail(absl::StrCat("in callback: ", s.ToString()));
    };
  }

  uint32_t OriginStreams() {
    if (!mixed_) return origin_limit_;
    return Chance(0.5) ? 1 : origin_limit_;
  }

  void OneOperation() {
    const uint64_t op = Uniform(0, 99);
    if (op < 30) {
      last_op_ = "Acquire";
      const uint64_t outcome = next_outcome_++;
      HostPool::AcquireOptions options;
      options.replay = Chance(0.05);
      const absl::Time deadline = clock_.Now() + absl::Milliseconds(static_cast<int64_t>(Uniform(1, 3000)));
      const HostPool::WaiterId id = pool_->Acquire(deadline, Callback(outcome), options);
      if (id != 0) waiting_.push_back(Waiting{id, outcome});
    } else if (op < 45) {
      // Connect a fresh slot.
      for (Held& h : held_) {
        if (h.fresh) {
          h.fresh = false;
          if (h.slot->state() == Slot::State::kConnecting) {
            last_op_ = "MarkConnected";
            pool_->MarkConnected(h.slot, OriginStreams());
          }
          break;
        }
      }
    } else if (op < 75) {
      if (held_.empty()) return;
      const size_t i = Uniform(0, held_.size() - 1);
      Held h = held_[i];
      held_.erase(held_.begin() + static_cast<ptrdiff_t>(i));
      const ExchangeEnd ends[] = {ExchangeEnd::kComplete, ExchangeEnd::kComplete,
                                  ExchangeEnd::kComplete, ExchangeEnd::kCompleteClosed,
                                  ExchangeEnd::kStale,    ExchangeEnd::kAborted,
                                  ExchangeEnd::kFailed};
      const ExchangeEnd end = ends[Uniform(0, 6)];
      if (!h.fresh && h.slot->state() != Slot::State::kConnecting && Chance(0.1)) {
        last_op_ = "ReturnUnused";
        pool_->ReturnUnused(h.slot);
      } else {
        last_op_ = absl::StrCat("Release ", static_cast<int>(end));
        pool_->Release(h.slot, end);
      }
    } else if (op < 80) {
      if (held_.empty()) return;
      last_op_ = "MarkGoingAway";
      pool_->MarkGoingAway(held_[Uniform(0, held_.size() - 1)].slot);
    } else if (op < 85) {
      if (waiting_.empty()) return;
      last_op_ = "Cancel";
      pool_->Cancel(waiting_[Uniform(0, waiting_.size() - 1)].id);
    } else if (op < 93) {
      last_op_ = "Advance+OnTimer";
      clock_.Advance(absl::Milliseconds(static_cast<int64_t>(Uniform(1, 400))));
      pool_->OnTimer();
    } else if (op < 96) {
      if (held_.empty()) return;
      last_op_ = "MarkDead";
      transport_->MarkDead(*held_[Uniform(0, held_.size() - 1)].slot);
    } else if (op == 98) {
      last_op_ = "CloseAllIdle";
      pool_->CloseAllIdle(CloseReason::kShutdown);
    } else if (op == 99 && Chance(0.3)) {
      last_op_ = "FailAllWaiters";
      pool_->FailAllWaiters(absl::UnavailableError("draining"));
    } else {
      last_op_ = "Reconfigure";
      HostPoolConfig c = RandomConfig();
      c.may_multiplex = config_.may_multiplex || Chance(0.2);
      if (!pool_->Reconfigure(c).ok()) Fail("Reconfigure refused a valid config");
      config_ = c;
    }
  }

  void Check() {
    absl::Status s = pool_->CheckInvariants();
    if (!s.ok()) return Fail(s.ToString());
    std::unordered_map<const Slot*, uint32_t> streams;
    for (const Held& h : held_) ++streams[h.slot];
    if (held_.size() != pool_->streams_in_use()) {
      return Fail(absl::StrCat("held ", held_.size(), " != streams_in_use ",
                               pool_->streams_in_use()));
    }
    for (const auto& [slot, n] : streams) {
      if (slot->streams_in_use() != n) {
        return Fail(absl::StrCat("slot holds ", n, " leases, pool says ", slot->streams_in_use()));
      }
      if (slot->state() == Slot::State::kIdle) return Fail("a held slot is idle");
    }
    if (waiting_.size() != pool_->waiter_count()) {
      // Expired waiters wait for the timer; the pool never holds more.
      if (pool_->waiter_count() > waiting_.size()) {
        return Fail(absl::StrCat("pool has ", pool_->waiter_count(), " waiters, test ",
                                 waiting_.size()));
      }
    }
    if (transport_->misuse_count() != 0) return Fail(transport_->Misuse().front());
  }

  void Drain() {
    last_op_ = "Drain";
    for (int guard = 0; guard < 100000 && (!held_.empty() || !waiting_.empty()); ++guard) {
      if (!held_.empty()) {
        Held h = held_.back();
        held_.pop_back();
        if (h.fresh && h.slot->state() == Slot::State::kConnecting) {
          pool_->MarkConnected(h.slot, OriginStreams());
        }
        pool_->Release(h.slot, ExchangeEnd::kComplete);
      } else {
        clock_.Advance(absl::Seconds(10));
        pool_->OnTimer();
      }
      Check();
      if (failed_) return;
    }
    if (!held_.empty() || !waiting_.empty()) return Fail("drain did not finish");
    clock_.Advance(absl::Minutes(5));
    pool_->OnTimer();
    if (pool_->SlotCount() != 0) return Fail("slots left after the idle timeout");
    const HostPoolStatsSnapshot snap = pool_->Snapshot();
    if (snap.connections_opened_total != snap.connections_closed_total) {
      return Fail("books do not balance");
    }
    pool_.reset();
    if (transport_->open_now() != 0) Fail("connections left open");
    if (transport_->misuse_count() != 0) Fail(transport_->Misuse().front());
  }

  const uint64_t seed_;
  std::mt19937_64 rng_;
  uint64_t step_ = 0;
  bool failed_ = false;
  std::string last_op_;
  FakeClock clock_;
  std::unique_ptr<FakeTransport> transport_;
  HostPoolConfig config_;
  uint32_t origin_limit_ = 1;
  bool mixed_ = false;
  std::unique_ptr<HostPool> pool_;
  std::vector<Held> held_;
  std::vector<Waiting> waiting_;
  std::unordered_map<uint64_t, int> calls_;
  uint64_t next_outcome_ = 1;
  uint64_t pools_ = 0, leases_ = 0, fresh_ = 0, shared_ = 0, refused_ = 0, reentries_ = 0;
  uint32_t max_streams_seen_ = 0;
};

TEST(HostPoolStreamsStressTest, RandomScheduleMixingHttp11AndHttp2KeepsEveryInvariant) {
  const uint64_t ops = EnvU64("FETCHPOOL_STREAMS_STRESS_OPS", 100000);
  const uint64_t only = EnvU64("FETCHPOOL_STRESS_SEED", 0);
  const uint64_t base = EnvU64("FETCHPOOL_STRESS_SEED_BASE", 0);
  for (uint64_t seed = base + 1; seed <= base + 4; ++seed) {
    if (only != 0 && seed != only) continue;
    StreamsStress run(seed);
    run.Run(ops);
    std::cout << "[streams stress] " << run.Summary() << "\n";
    if (run.failed()) break;
    EXPECT_GT(run.shared(), 0u) << "the schedule never shared a connection";
  }
}

}  // namespace
}  // namespace fetchpool
