#ifndef FETCHPOOL_ENGINE_FETCH_RUNNER_H_
#define FETCHPOOL_ENGINE_FETCH_RUNNER_H_

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "engine/buffer_budget.h"
#include "engine/curl_connection.h"
#include "engine/event_loop.h"
#include "engine/fetch_op.h"
#include "engine/pool_registry.h"

namespace fetchpool {

// Where each host's fetches run: every pool lives on one loop, so a fetch
// redirected to a host of another loop moves there (implemented by the
// engine; called on the runner's loop thread).
class LoopRouter {
 public:
  // The loop that owns `pool_key`'s pool.
  virtual uint32_t LoopFor(const std::string& pool_key) const = 0;
  // Hands `op` (no lease, no timer) to loop `to`, which goes on with it.
  virtual void Migrate(uint32_t to, std::unique_ptr<FetchOp> op) = 0;
  // Cancels `id` on loop `to`, where it moved.
  virtual void ForwardCancel(uint32_t to, uint64_t id) = 0;
  // Every loop may drop what it remembers of moved fetch `id`: it ended.
  virtual void ForgetMoved(uint64_t id) = 0;

 protected:
  ~LoopRouter() = default;
};

// Runs one event loop's fetches through their life (FetchOp::Phase): a
// lease from the host's pool, the exchange on it, then the decisions
// (engine/fetch_decisions.h) on what the outcome means: answer, replay,
// follow a redirect, drain, and what becomes of the connection. Loop
// thread only; every entry point checks it.
class FetchRunner {
 public:
  // `index`: this runner's loop, as LoopRouter numbers them.
  // `budget`: the engine's buffered-bytes budget, shared by every loop.
  FetchRunner(uint32_t index, EventLoop& loop, PoolRegistry& pools, LoopRouter& router,
              std::shared_ptr<BufferBudget> budget)
      : index_(index), loop_(loop), pools_(pools), router_(router), budget_(std::move(budget)) {}
  ~FetchRunner();
  FetchRunner(const FetchRunner&) = delete;
  FetchRunner& operator=(const FetchRunner&) = delete;

  // A new fetch: it asks its pool for a connection (or is refused at once
  // while draining).
  void Start(std::unique_ptr<FetchOp> op);
  // A fetch that moved here from another loop (a redirect to a host of
  // this loop): it asks its new pool for a connection.
  void Adopt(std::unique_ptr<FetchOp> op);
  // Fetch `id`, which had moved away from this loop, has ended.
  void ForgetMoved(uint64_t id) { moved_to_.erase(id); }
  // The caller went away: a waiting fetch leaves the queue, a running one
  // is aborted or drained per its policy. Unknown (finished) ids are ignored.
  void Cancel(uint64_t id);
  // The transfer on `stream` ended with `code` (from the curl multi).
  void OnTransferDone(CurlStream& stream, CURLcode code);

  // Runs the answers given during this loop iteration (the loop calls it
  // before it sleeps): finishing gRPC calls together rather than one at a
  // time as each transfer ends.
  void DeliverAnswers();

  // From now on new fetches are refused with SHUTTING_DOWN.
  void StopTakingFetches() { taking_fetches_ = false; }
  bool idle() const { return ops_.empty(); }
  // Answers every fetch with `why` and aborts its transfer. Waiters must
  // have been failed first (PoolRegistry::FailAllWaiters), so freed
  // capacity cannot start new transfers.
  void AbortAll(const absl::Status& why);

 private:
  friend struct FetchOp;  // OnBodyOverLimit

  FetchOp* Find(uint64_t id);
  // Takes `owned` into this loop's table and asks for a connection.
  void Admit(std::unique_ptr<FetchOp> owned);
  void AcquireConnection(FetchOp* op, HostPool::AcquireOptions options = {});
  void OnLease(uint64_t id, absl::StatusOr<Lease> lease);
  void StartTransfer(FetchOp* op);
  // OK when `op`'s egress profile allows the address a reused connection
  // is open to; DESTINATION_DENIED otherwise.
  absl::Status CheckReusedConnection(const FetchOp& op, const CurlConnection& conn) const;
  // The transfer deadline (call deadline or request_timeout) passed.
  void OnTransferDeadline(FetchOp* op);
  // The fetch runs under FetchConfig::max_request_time: its caller set
  // neither a deadline nor request_timeout.
  static bool CappedByMaxRequestTime(const FetchOp& op, const FetchConfig& cfg);
  void BeginDrain(FetchOp* op, absl::Status answer);
  void AbortTransfer(FetchOp* op);
  // The response outgrew the caller's limit: answer RESOURCE_EXHAUSTED and
  // drain (true: keep reading) or let curl abort the transfer (false).
  bool RefuseOversizedBody(FetchOp* op);
  void FollowRedirect(FetchOp* op);
  absl::Status BudgetExceeded(const FetchOp& op, bool at_start);
  void Release(FetchOp* op, ExchangeEnd end);
  void Answer(FetchOp* op, absl::StatusOr<FetchResult> result);
  void Finish(FetchOp* op);
  void CancelDeadlineTimer(FetchOp* op);
  // Runs `fn` on `id`'s fetch at `when`, if it is still there.
  EventLoop::TimerId TimerFor(uint64_t id, absl::Time when, void (FetchRunner::*fn)(FetchOp*));
  OnDeadline PolicyFor(const FetchOp& op) const;

  const uint32_t index_;
  EventLoop& loop_;
  PoolRegistry& pools_;
  LoopRouter& router_;
  const std::shared_ptr<BufferBudget> budget_;
  bool taking_fetches_ = true;
  absl::flat_hash_map<uint64_t, std::unique_ptr<FetchOp>> ops_;
  // Answers waiting for the end of the loop iteration (DeliverAnswers).
  std::vector<std::pair<FetchCallback, absl::StatusOr<FetchResult>>> answers_;
  // Fetches that moved from this loop to another, so a cancel can follow.
  absl::flat_hash_map<uint64_t, uint32_t> moved_to_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_FETCH_RUNNER_H_
