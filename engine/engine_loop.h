#ifndef FETCHPOOL_ENGINE_ENGINE_LOOP_H_
#define FETCHPOOL_ENGINE_ENGINE_LOOP_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "engine/buffer_budget.h"
#include "engine/caller_pool_quota.h"
#include "engine/curl_connection.h"
#include "engine/curl_multi.h"
#include "engine/self_addresses.h"
#include "engine/engine_config.h"
#include "engine/event_loop.h"
#include "engine/fetch_runner.h"
#include "engine/pool_registry.h"
#include "engine/time_wait_counter.h"

namespace fetchpool {

// What one loop's pools looked like at one moment (Engine::GetStats
// gathers one from every loop).
struct LoopStats {
  std::vector<HostPoolStatsSnapshot> pools;
  HostPoolStatsSnapshot totals;
  uint32_t pool_count = 0;
};

// One event-loop thread and everything it owns: epoll and timers, a curl
// multi, the pools of the hosts hashed to it and their fetches. Nothing of
// it is shared with another loop; other threads reach it only through
// Post. Its thread is named "fp-loop-<index>". It owns the EngineConfig it
// reads (a copy of its own, replaced on its thread by Reconfigure).
class EngineLoop final : public CurlConnectionOwner, public Transport {
 public:
  EngineLoop(uint32_t index, std::shared_ptr<const EngineConfig> config, const SelfAddresses& self,
             LoopRouter& router, std::atomic<uint32_t>& pools_in_engine,
             TimeWaitCache& time_wait, CallerPoolQuota& quota,
             std::shared_ptr<BufferBudget> budget);
  ~EngineLoop() override;  // stops and joins the thread if still running

  // Any thread: runs `task` on this loop, in posting order.
  void Post(absl::AnyInvocable<void()> task) { loop_.Post(std::move(task)); }
  // Any thread: runs `fn` on this loop and waits for it.
  void RunAndWait(absl::AnyInvocable<void()> fn);

  // Loop thread (post to it): the fetch entry points.
  FetchRunner& fetches();
  LoopStats CollectStats(const std::string& pool_key);

  // Loop thread: `config` (this loop's own copy, validated, nothing
  // restart-only changed) for new work: PoolRegistry::Reconfigure.
  void Reconfigure(std::shared_ptr<const EngineConfig> config);

  // Loop thread: shutdown, in order.
  void StopTakingFetches();
  bool Idle() const;
  void TearDown();  // fails what is left and closes every connection
  // Any thread: ends the loop and joins its thread (after TearDown).
  void StopAndJoin();

  // Loop thread: OK or the first broken pool invariant (tests).
  absl::Status CheckInvariants() const;

  // CurlConnectionOwner / Transport (loop thread).
  EventLoop& loop() override { return loop_; }
  CurlMulti& multi() override { return multi_; }
  const SelfAddresses& self_addresses() override { return self_; }
  LoopTls& tls() override { return tls_; }
  std::unique_ptr<Connection> NewConnection(Slot& slot) override;
  void OnConnected(CurlStream& stream) override;
  void OnTransferDone(CurlStream& stream, CURLcode code) override;
  void OnIdleConnectionLost(CurlConnection& conn) override;
  void OnOriginStreamLimit(CurlConnection& conn, uint32_t limit) override;

 private:
  const SelfAddresses& self_;
  TimeWaitCache& time_wait_;
  EventLoop loop_;
  // Every transfer of this loop runs here. Declared before the pools, so it
  // outlives every connection.
  CurlMulti multi_{loop_};
  // Trust stores and TLS sessions of this loop's connections; outlives them.
  LoopTls tls_;
  PoolRegistry pools_;
  FetchRunner fetches_;
  std::thread thread_;
  std::atomic<bool> joined_{false};
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_ENGINE_LOOP_H_
