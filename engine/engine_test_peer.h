#ifndef FETCHPOOL_ENGINE_ENGINE_TEST_PEER_H_
#define FETCHPOOL_ENGINE_ENGINE_TEST_PEER_H_

// Test hooks into a running Engine, kept out of its public API. Only tests
// (and test fixtures of other layers) include this.

#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "engine/engine.h"

namespace fetchpool {

class EngineTestPeer {
 public:
  // OK, or the first pool invariant that does not hold, on any loop (each
  // loop checks its own pools on its own thread).
  static absl::Status CheckInvariants(Engine& engine);
  // Runs `fn` on every loop thread in turn and waits for each.
  static void RunOnEveryLoopAndWait(Engine& engine, absl::AnyInvocable<void()> fn);
  // Runs `fn` on loop `loop` and waits for it.
  static void RunOnLoopAndWait(Engine& engine, uint32_t loop, absl::AnyInvocable<void()> fn);
  // The loop that owns `pool_key`'s pool.
  static uint32_t LoopFor(Engine& engine, const std::string& pool_key);
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_ENGINE_TEST_PEER_H_
