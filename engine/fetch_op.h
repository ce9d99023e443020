#ifndef FETCHPOOL_ENGINE_FETCH_OP_H_
#define FETCHPOOL_ENGINE_FETCH_OP_H_

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <cstdio>
#include <cstdlib>

#include "absl/time/time.h"
#include "common/reason.h"
#include "engine/egress_profile.h"
#include "engine/event_loop.h"
#include "engine/fetch_config.h"
#include "engine/fetch_types.h"
#include "engine/http_exchange.h"
#include "pool/host_pool.h"

namespace fetchpool {

class CurlStream;
class FetchRunner;
struct PoolEntry;

// One fetch inside the engine, from arrival to the end of its transfer
// (which can outlive the caller's answer while a response drains). Owned
// by its loop's FetchRunner; loop thread only. Timers and the connection
// refer to it by id, never by pointer, so a late timer finds nothing
// rather than a freed fetch.
struct FetchOp final : OversizeHandler {
  // The fetch's life, one way only:
  //   kWaiting -> kTransferring -> kDone
  //   kTransferring -> kWaiting      a replay, or a redirect to follow
  //   kTransferring -> kDraining -> kDone   answered; the response finishes
  //   kWaiting -> kDone              refused, timed out or cancelled in the queue
  enum class Phase { kWaiting, kTransferring, kDraining, kDone };

  FetchRunner* runner = nullptr;
  uint64_t id = 0;
  FetchSpec spec;
  FetchCallback done;
  absl::Time arrived;
  // The egress profile this fetch runs under (EgressProfileSet::Resolve),
  // for every hop and every connection it uses; when the engine refused the
  // fetch before it started, `refused` says why and `profile` is null.
  std::shared_ptr<const EgressProfile> profile;
  absl::Status refused;

  PoolEntry* pool = nullptr;       // the pool of the current attempt
  // The host's fetch settings, taken when the fetch asks that host's pool
  // for a connection and kept to its end (replays included), so an
  // Engine::Reconfigure changes new fetches, never one under way. Shared:
  // it keeps the loop's config of that moment alive (PoolRegistry).
  std::shared_ptr<const FetchConfig> fetch;
  HostPool::WaiterId waiter = 0;   // while queued
  // Its stream on the leased slot's connection, while it holds a lease.
  CurlStream* stream = nullptr;
  bool fresh_connection = false;   // the lease is a new connection
  bool shared_connection = false;  // a stream beside others on a multiplexed one
  absl::Time leased_at;
  EventLoop::TimerId deadline_timer = 0;
  absl::Time transfer_deadline = absl::InfiniteFuture();

  ExchangeState exchange;
  curl_slist* header_list = nullptr;  // curl's copy of spec.headers, for every attempt
  FetchResult result;
  uint32_t attempts = 1;
  // A transfer started: the origin may have seen a request of this fetch
  // (KeepNeverSentPromise).
  bool request_may_have_been_sent = false;
  bool answered = false;  // `done` has run
  bool moved = false;     // it changed loops (a redirect to another loop's host)

  Phase phase() const { return phase_; }
  // Moves to `next`; aborts on a transition the diagram above does not allow.
  void EnterPhase(Phase next) {
    if (!Allowed(phase_, next)) {
      std::fprintf(stderr, "fetchpool: fetch %llu: bad phase change %d -> %d\n",
                   static_cast<unsigned long long>(id), static_cast<int>(phase_),
                   static_cast<int>(next));
      std::abort();
    }
    phase_ = next;
  }

  // Clears what one attempt received, before a replay or a redirect; keeps
  // what belongs to the whole fetch: its id, the redirects followed and the
  // time already spent waiting for connections.
  void ResetForNextAttempt() {
    FetchResult next;
    next.id = std::move(result.id);
    next.redirects = result.redirects;
    next.timing.queue_wait = result.timing.queue_wait;
    result = std::move(next);
    exchange.Reset();
  }

  // The response outgrew the caller's limit (runner's decision: drain or abort).
  bool OnBodyOverLimit() override;

  ~FetchOp() {
    if (header_list != nullptr) curl_slist_free_all(header_list);
    if (stream != nullptr) {
      std::fprintf(stderr, "fetchpool: fetch %llu destroyed while holding a connection\n",
                   static_cast<unsigned long long>(id));
      std::abort();
    }
    // Exactly-once, even for a fetch posted to a loop that stopped before
    // running it: the caller always hears back.
    if (!answered && done) {
      done(MakeError(Reason::kShuttingDown, "fetchpool stopped before this fetch started"));
    }
  }

 private:
  static bool Allowed(Phase from, Phase to) {
    switch (from) {
      case Phase::kWaiting: return to == Phase::kTransferring || to == Phase::kDone;
      case Phase::kTransferring:
        return to == Phase::kWaiting || to == Phase::kDraining || to == Phase::kDone;
      case Phase::kDraining: return to == Phase::kDone;
      case Phase::kDone: return false;
    }
    return false;
  }

  Phase phase_ = Phase::kWaiting;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_FETCH_OP_H_
