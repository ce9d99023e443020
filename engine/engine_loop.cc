#include "engine/engine_loop.h"

#include <pthread.h>

#include <algorithm>
#include <future>

#include "absl/strings/str_cat.h"
#include "common/reason.h"

namespace fetchpool {
EngineLoop::EngineLoop(uint32_t index, std::shared_ptr<const EngineConfig> config,
                       const SelfAddresses& self, LoopRouter& router,
                       std::atomic<uint32_t>& pools_in_engine, TimeWaitCache& time_wait,
                       CallerPoolQuota& quota, std::shared_ptr<BufferBudget> budget)
    : self_(self),
      time_wait_(time_wait),
      loop_(MonotonicClock::Get()),
      // TLS settings are restart-only (CheckLiveChange): the trust stores
      // built here serve every later config.
      tls_(*config),
      pools_(std::move(config), loop_, *this, pools_in_engine, quota),
      fetches_(index, loop_, pools_, router, std::move(budget)) {
  loop_.SetBeforeSleepHook([this] { fetches_.DeliverAnswers(); });
  thread_ = std::thread([this] {
    pools_.StartEvictionSweep();
    loop_.Run();
  });
  // At most 15 characters: "fp-loop-255".
  pthread_setname_np(thread_.native_handle(), absl::StrCat("fp-loop-", index).c_str());
}

EngineLoop::~EngineLoop() { StopAndJoin(); }

void EngineLoop::RunAndWait(absl::AnyInvocable<void()> fn) {
  if (loop_.InLoopThread()) {
    fn();
    return;
  }
  // std::promise rather than absl::Notification: see EventLoop::post_mu_.
  std::promise<void> finished;
  loop_.Post([&] {
    fn();
    finished.set_value();
  });
  finished.get_future().wait();
}

FetchRunner& EngineLoop::fetches() {
  loop_.AssertInLoopThread("EngineLoop");
  return fetches_;
}

LoopStats EngineLoop::CollectStats(const std::string& pool_key) {
  loop_.AssertInLoopThread("EngineLoop");
  LoopStats out;
  out.pool_count = static_cast<uint32_t>(pools_.size());
  if (pools_.size() == 0) return out;
  // One netlink dump serves every pool of every loop (TimeWaitCache).
  std::shared_ptr<const TimeWaitCounts> time_wait = time_wait_.Get(loop_.clock().Now());
  // Snapshots are large (two histograms each): no regrowth copies with 10,000 pools.
  if (pool_key.empty()) out.pools.reserve(pools_.size());
  pools_.Snapshot(pool_key, time_wait.get(), &out.pools, &out.totals);
  return out;
}

void EngineLoop::Reconfigure(std::shared_ptr<const EngineConfig> config) {
  loop_.AssertInLoopThread("EngineLoop");
  pools_.Reconfigure(std::move(config));
}

void EngineLoop::StopTakingFetches() {
  loop_.AssertInLoopThread("EngineLoop");
  fetches_.StopTakingFetches();
}

bool EngineLoop::Idle() const {
  loop_.AssertInLoopThread("EngineLoop");
  return fetches_.idle();
}

void EngineLoop::TearDown() {
  loop_.AssertInLoopThread("EngineLoop");
  fetches_.StopTakingFetches();
  const absl::Status shutting_down =
      MakeError(Reason::kShuttingDown, "fetchpool is shutting down");
  // Waiters first, so aborting a transfer below cannot hand its freed
  // capacity to a waiter and start a new transfer.
  pools_.FailAllWaiters(shutting_down);
  fetches_.AbortAll(shutting_down);
  pools_.Clear();
}

void EngineLoop::StopAndJoin() {
  if (joined_.exchange(true)) return;
  loop_.Stop();
  thread_.join();
}

absl::Status EngineLoop::CheckInvariants() const {
  loop_.AssertInLoopThread("EngineLoop");
  return pools_.CheckInvariants();
}

std::unique_ptr<Connection> EngineLoop::NewConnection(Slot& slot) {
  return std::make_unique<CurlConnection>(*this, slot);
}

void EngineLoop::OnConnected(CurlStream& stream) {
  CurlConnection& conn = stream.connection();
  Slot& slot = conn.slot();
  if (slot.state() != Slot::State::kConnecting) return;
  // HTTP/2: as many streams as curl puts on one connection (libcurl 7.88
  // does not tell the origin's SETTINGS_MAX_CONCURRENT_STREAMS), or the
  // origin's limit once a connection of this host ran into it; the pool
  // caps it with the host's max_streams_per_connection. The streams it
  // hands to waiters now start once curl returns (CurlMulti::Add).
  uint32_t streams = 1;
  if (conn.multiplexed()) {
    streams = CurlConnection::kCurlMaxStreams;
    PoolEntry* entry = pools_.Find(slot.pool().key());
    if (entry != nullptr && entry->origin_max_streams > 0) {
      streams = std::min(streams, entry->origin_max_streams);
    }
  }
  slot.pool().MarkConnected(&slot, streams);
}

void EngineLoop::OnOriginStreamLimit(CurlConnection& conn, uint32_t limit) {
  // Learned for the host's next connections; this one takes no new stream
  // once the stream curl refused ends (FetchRunner::OnTransferDone).
  PoolEntry* entry = pools_.Find(conn.slot().pool().key());
  if (entry != nullptr && limit > 0) entry->origin_max_streams = limit;
}

void EngineLoop::OnTransferDone(CurlStream& stream, CURLcode code) {
  fetches_.OnTransferDone(stream, code);
}

void EngineLoop::OnIdleConnectionLost(CurlConnection& conn) {
  conn.slot().pool().OnIdleConnectionLost(&conn.slot());  // destroys conn
}

}  // namespace fetchpool
