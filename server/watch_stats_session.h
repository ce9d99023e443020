#ifndef FETCHPOOL_SERVER_WATCH_STATS_SESSION_H_
#define FETCHPOOL_SERVER_WATCH_STATS_SESSION_H_

// No gRPC here: this is the WatchStats call's logic, kept apart from gRPC so
// that ThreadSanitizer can check it (tests/server/watch_stats_session_test.cc;
// Debian's gRPC is not TSan-instrumented). server/watch_stats_reactor.cc
// plugs it into a grpc::ServerWriteReactor.

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.pb.h"
#include "server/drain_registry.h"

namespace fetchpool {

// What a WatchStatsSession asks of its call: the operations of gRPC's
// ServerWriteReactor. As with gRPC, an operation returns without calling
// back into the session; a write's completion arrives later, on any thread,
// as OnWriteDone. One write at a time; the response stays put until then.
class WatchStatsPort {
 public:
  virtual void StartWrite(const v1::StatsResponse* response) = 0;
  // Called once: OK (a write failed without a cancel), CANCELLED, or
  // UNAVAILABLE / SHUTTING_DOWN after Drain. Nothing else of the port is
  // called afterwards.
  virtual void Finish(const absl::Status& status) = 0;

 protected:
  ~WatchStatsPort() = default;
};

// One WatchStats call: a StatsResponse now, then one `interval` after each
// write completes, until the caller cancels or a write fails.
//
// Lifetime: shared. The call holds one reference (Create's result) until
// OnDone, after which the port is never touched. Each pending engine timer
// or stats callback holds its own; one the engine drops unrun (engine
// stopped) releases it. So the session is freed exactly when nothing can
// reach it any more, which may be after OnDone.
class WatchStatsSession final : public std::enable_shared_from_this<WatchStatsSession>,
                                public Drainable {
 public:
  struct Params {
    absl::Duration interval = absl::Seconds(1);
    std::string pool_key;  // "" for all pools
    // Totals and pool_count only, no per-pool entries: a caller not in
    // --stats_callers must not learn which hosts others fetch from.
    bool totals_only = false;
  };
  // Checks a request: INVALID_ARGUMENT (INVALID_OPTION for the interval,
  // INVALID_URL / UNSUPPORTED_SCHEME for the host) or the parameters.
  static absl::StatusOr<Params> ParseRequest(const v1::WatchStatsRequest& request);

  static std::shared_ptr<WatchStatsSession> Create(Engine& engine, Params params,
                                                   WatchStatsPort* port);
  WatchStatsSession(const WatchStatsSession&) = delete;
  WatchStatsSession& operator=(const WatchStatsSession&) = delete;

  // Asks the engine for the first snapshot.
  void Start();

  // gRPC's events.
  void OnWriteDone(bool ok);
  void OnCancel();
  // The call is over (after Finish): the port is gone.
  void OnDone();
  // The server drains: finishes UNAVAILABLE / SHUTTING_DOWN once the write
  // in flight, if any, is done, so the caller re-subscribes elsewhere.
  void Drain() override;

 private:
  WatchStatsSession(Engine& engine, Params params, WatchStatsPort* port);

  void RequestStats();                            // any thread; engine timer
  void Write(const Engine::StatsResult& stats);  // engine loop thread
  // Marks the session finished and unlocks; the caller then calls Finish.
  void FinishLocked(std::unique_lock<std::mutex>& lock, const absl::Status& status);

  Engine& engine_;
  const Params params_;

  // Protects the state below: writes complete, timers fire and cancels
  // arrive on different threads. StartWrite is called under it, Finish
  // without it.
  std::mutex mu_;
  WatchStatsPort* port_;  // null after OnDone
  v1::StatsResponse response_;  // being written while writing_
  bool writing_ = false;
  bool cancelled_ = false;
  bool draining_ = false;
  bool finished_ = false;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_WATCH_STATS_SESSION_H_
