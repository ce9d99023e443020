// Microbenchmarks of the pool's hot path (Google Benchmark):
//   build-bench/bench/pool_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// The pool is single-threaded (owned by the engine's loop), so "contended"
// means callers queued behind a full pool, not threads fighting for a lock.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "pool/host_pool.h"

namespace fetchpool {
namespace {

class BenchClock final : public Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1000);
};

class NullConnection final : public Connection {
 public:
  bool LooksAlive() override { return true; }
  void SetIdle(bool) override {}
  bool Close() override { return true; }
};

class NullTransport final : public Transport {
 public:
  std::unique_ptr<Connection> NewConnection(Slot&) override {
    return std::make_unique<NullConnection>();
  }
};

HostPoolConfig Config(uint32_t max_connections) {
  HostPoolConfig config;
  config.max_connections = max_connections;
  config.max_waiters = 1 << 20;
  return config;
}

// Take an idle connection and give it back: the common case.
void BM_AcquireReleaseIdle(benchmark::State& state) {
  BenchClock clock;
  NullTransport transport;
  HostPool pool("http://bench:80", Config(64), clock, transport);
  Slot* slot = nullptr;
  pool.Acquire(clock.Now() + absl::Seconds(5), [&](absl::StatusOr<Lease> l) { slot = l->slot; });
  pool.Release(slot, ExchangeEnd::kComplete);
  const absl::Time deadline = clock.Now() + absl::Seconds(5);
  for (auto _ : state) {
    pool.Acquire(deadline, [&](absl::StatusOr<Lease> l) { slot = l->slot; });
    pool.Release(slot, ExchangeEnd::kComplete);
  }
}
BENCHMARK(BM_AcquireReleaseIdle);

// A release handed straight to a queued waiter, which queues again: the
// pool at its cap with `range(0)` callers waiting.
void BM_HandOffToWaiter(benchmark::State& state) {
  BenchClock clock;
  NullTransport transport;
  HostPool pool("http://bench:80", Config(1), clock, transport);
  const absl::Time deadline = clock.Now() + absl::Hours(1);
  Slot* held = nullptr;
  std::vector<Slot*> handed;
  pool.Acquire(deadline, [&](absl::StatusOr<Lease> l) { held = l->slot; });
  for (int i = 0; i < state.range(0); ++i) {
    pool.Acquire(deadline, [&](absl::StatusOr<Lease> l) {
      if (l.ok()) handed.push_back(l->slot);
    });
  }
  for (auto _ : state) {
    pool.Release(held, ExchangeEnd::kComplete);  // goes to the oldest waiter
    held = handed.back();
    handed.pop_back();
    pool.Acquire(deadline, [&](absl::StatusOr<Lease> l) {
      if (l.ok()) handed.push_back(l->slot);
    });
  }
  state.counters["waiters"] = static_cast<double>(pool.waiter_count());
}
BENCHMARK(BM_HandOffToWaiter)->Arg(1)->Arg(64)->Arg(4096);

// Queue a waiter and let its deadline pass: the timer path.
void BM_WaiterExpiry(benchmark::State& state) {
  BenchClock clock;
  NullTransport transport;
  HostPool pool("http://bench:80", Config(1), clock, transport);
  pool.Acquire(clock.Now() + absl::Hours(1000), [](absl::StatusOr<Lease>) {});
  for (auto _ : state) {
    pool.Acquire(clock.Now() + absl::Milliseconds(1), [](absl::StatusOr<Lease>) {});
    clock.Advance(absl::Milliseconds(2));
    pool.OnTimer();
  }
}
BENCHMARK(BM_WaiterExpiry);

// Queue and cancel: a caller that gives up while waiting.
void BM_WaiterCancel(benchmark::State& state) {
  BenchClock clock;
  NullTransport transport;
  HostPool pool("http://bench:80", Config(1), clock, transport);
  pool.Acquire(clock.Now() + absl::Hours(1000), [](absl::StatusOr<Lease>) {});
  const absl::Time deadline = clock.Now() + absl::Hours(1);
  for (auto _ : state) {
    const HostPool::WaiterId id = pool.Acquire(deadline, [](absl::StatusOr<Lease>) {});
    pool.Cancel(id);
  }
}
BENCHMARK(BM_WaiterCancel);

// Open and close a connection each time: no reuse (the cost fetchpool
// exists to avoid, as the pool itself sees it).
void BM_OpenAndClose(benchmark::State& state) {
  BenchClock clock;
  NullTransport transport;
  HostPool pool("http://bench:80", Config(64), clock, transport);
  const absl::Time deadline = clock.Now() + absl::Seconds(5);
  Slot* slot = nullptr;
  for (auto _ : state) {
    pool.Acquire(deadline, [&](absl::StatusOr<Lease> l) { slot = l->slot; });
    pool.Release(slot, ExchangeEnd::kFailed);
  }
}
BENCHMARK(BM_OpenAndClose);

}  // namespace
}  // namespace fetchpool

BENCHMARK_MAIN();
