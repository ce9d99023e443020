#ifndef FETCHPOOL_ENGINE_FETCH_OP_H_
#define FETCHPOOL_ENGINE_FETCH_OP_H_

#include <curl/curl.h>

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "engine/event_loop.h"
#include "engine/fetch_types.h"
#include "pool/host_pool.h"
#include "pool/reason.h"

namespace fetchpool {

class CurlConnection;
class EngineImpl;
struct PoolEntry;

// One fetch inside the engine, from arrival to the end of its transfer
// (which can outlive the caller's answer while a response drains).
struct FetchOp {
  enum class Phase {
    kWaiting,       // queued for a connection
    kTransferring,  // an exchange is running on `conn`
    kDraining,      // the caller was answered; the response finishes in the background
  };

  EngineImpl* engine = nullptr;
  uint64_t id = 0;
  FetchSpec spec;
  FetchCallback done;
  absl::Time arrived;
  Phase phase = Phase::kWaiting;

  PoolEntry* pool = nullptr;
  HostPool::WaiterId waiter = 0;
  CurlConnection* conn = nullptr;
  bool fresh_connection = false;
  absl::Time leased_at;
  EventLoop::TimerId deadline_timer = 0;
  absl::Time transfer_deadline = absl::InfiniteFuture();

  // Response being received.
  curl_slist* header_list = nullptr;
  uint64_t body_limit = 0;
  uint64_t bytes_received = 0;  // body bytes, kept or discarded
  bool any_response_byte = false;
  bool too_large = false;
  uint64_t declared_length = 0;  // Content-Length of the final response, if any
  std::string keep_alive_header;
  FetchResult result;

  uint32_t attempts = 1;
  bool answered = false;  // `done` has run

  // Clears what one attempt received, before a replay or a redirect; keeps
  // what belongs to the whole fetch: its id, the redirects followed and the
  // time already spent waiting for connections.
  void ResetForNextAttempt() {
    FetchResult next;
    next.id = std::move(result.id);
    next.redirects = result.redirects;
    next.timing.queue_wait = result.timing.queue_wait;
    result = std::move(next);
    bytes_received = 0;
    any_response_byte = false;
    too_large = false;
    declared_length = 0;
    keep_alive_header.clear();
  }

  ~FetchOp() {
    if (header_list != nullptr) curl_slist_free_all(header_list);
    // Exactly-once, even for a fetch posted to a loop that stopped before
    // running it: the caller always hears back.
    if (!answered && done) {
      done(MakeError(Reason::kShuttingDown, "fetchpool stopped before this fetch started"));
    }
  }
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_FETCH_OP_H_
