#ifndef FETCHPOOL_SERVER_WATCH_STATS_REACTOR_H_
#define FETCHPOOL_SERVER_WATCH_STATS_REACTOR_H_

#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstdint>

#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"
#include "server/drain_registry.h"

namespace fetchpool {

// The cap on concurrent WatchStats calls (--max_watch_streams): each one
// holds a slot from its start until gRPC's OnDone. Thread-safe.
class WatchStreamSlots {
 public:
  explicit WatchStreamSlots(uint32_t max_streams) : max_(max_streams) {}
  bool TryAcquire() {
    uint32_t active = active_.load(std::memory_order_relaxed);
    do {
      if (active >= max_) return false;
    } while (!active_.compare_exchange_weak(active, active + 1, std::memory_order_relaxed));
    return true;
  }
  void Release() { active_.fetch_sub(1, std::memory_order_relaxed); }
  uint32_t active() const { return active_.load(std::memory_order_relaxed); }
  uint32_t max() const { return max_; }

 private:
  const uint32_t max_;
  std::atomic<uint32_t> active_{0};
};

// Starts a WatchStats call: a StatsResponse now and then every interval
// until the caller cancels or the server drains. `pool_details`: false
// for a caller outside --stats_callers (totals only; asking for a host is
// PERMISSION_DENIED / STATS_DENIED). Over the slots' cap the call fails
// RESOURCE_EXHAUSTED / TOO_MANY_STREAMS.
grpc::ServerWriteReactor<v1::StatsResponse>* StartWatchStats(Engine& engine,
                                                             grpc::CallbackServerContext* context,
                                                             const v1::WatchStatsRequest& request,
                                                             WatchStreamSlots* slots,
                                                             bool pool_details,
                                                             DrainRegistry* drains = nullptr);

// A write reactor that only reports an error (e.g. UNAUTHENTICATED).
grpc::ServerWriteReactor<v1::StatsResponse>* RejectWatchStats(grpc::Status status);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_WATCH_STATS_REACTOR_H_
