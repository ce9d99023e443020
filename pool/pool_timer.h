#ifndef FETCHPOOL_POOL_POOL_TIMER_H_
#define FETCHPOOL_POOL_POOL_TIMER_H_

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace fetchpool {

// One re-armable timer, in the manner of Envoy's Event::Timer: the pool
// arms it for its next deadline whenever that changes, so its owner never
// has to ask the pool whether it needs waking. Runs on the thread that
// owns the pool.
class PoolTimer {
 public:
  virtual ~PoolTimer() = default;  // disarms
  // Fires once at `when` (re-arming replaces the previous time);
  // InfiniteFuture() disarms.
  virtual void ArmAt(absl::Time when) = 0;
};

// Makes timers that run `on_fire` on the pool's thread (the engine's event
// loop, or nothing at all in tests that call OnTimer themselves).
class TimerFactory {
 public:
  virtual ~TimerFactory() = default;
  virtual std::unique_ptr<PoolTimer> CreateTimer(absl::AnyInvocable<void()> on_fire) = 0;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_POOL_POOL_TIMER_H_
