#ifndef FETCHPOOL_POOL_HOST_POOL_H_
#define FETCHPOOL_POOL_HOST_POOL_H_

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "pool/clock.h"
#include "pool/pool_config.h"
#include "pool/pool_stats.h"
#include "pool/pool_timer.h"

namespace fetchpool {

class Slot;

// Why a connection was closed. Each reason has its own counter.
enum class CloseReason {
  kIdleTimeout,   // idle past the idle timeout
  kIdleOverflow,  // released while the idle list was at its cap
  kUpstream,      // the origin closed it (seen while idle, or at the end of a response)
  kStale,         // found dead by the check before reuse
  kAborted,       // closed with a request in flight (deadline, cancel, size limit)
  kError,         // a transport error (reset, timeout, protocol error)
  kMaxLifetime,   // older than max_connection_lifetime
  kShutdown,      // the pool was destroyed (shutdown, eviction)
};

// How the exchange on a leased slot ended: the one thing Release needs to
// decide the connection's fate and keep the books.
enum class ExchangeEnd {
  kComplete,        // a whole response, the connection still open: reuse it
  kCompleteClosed,  // a whole response, then the origin closed the connection
  kStale,           // a reused connection was dead before any response byte
  kAborted,         // cut short with a request in flight (deadline, cancel, size limit)
  kFailed,          // a transport error (reset, timeout, protocol error)
};

// The transport side of one pooled connection. The pool decides when a
// connection is reused, kept idle or closed; the transport does the I/O.
class Connection {
 public:
  virtual ~Connection() = default;
  // Cheap check before reuse: false when the origin has closed the
  // connection or sent bytes nobody asked for.
  virtual bool LooksAlive() = 0;
  // Called when the connection enters (true) or leaves (false) the idle list,
  // so the transport can watch an idle socket for the origin's close.
  virtual void SetIdle(bool idle) = 0;
  // Closes the connection. Returns true when we closed first (TIME_WAIT
  // lands on this machine), false when the origin had already closed it.
  virtual bool Close() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // A connection for `slot`, not yet connected: it connects when the caller
  // that leased the slot starts its first exchange on it.
  virtual std::unique_ptr<Connection> NewConnection(Slot& slot) = 0;
};

// One unit of capacity: a connection in exactly one of the pool's lists.
// An HTTP/1.1 connection carries one request at a time; a multiplexed
// (HTTP/2) one up to max_streams() concurrent requests, each a stream.
class Slot {
 public:
  // kBusy: every stream the slot may carry is in use, or the slot is going
  // away with streams still running. kPartial: a multiplexed connection with
  // some streams in use and room for more. kIdle: no stream in use.
  enum class State { kConnecting, kBusy, kIdle, kPartial };

  State state() const { return state_; }
  Connection& connection() const { return *connection_; }
  // Requests served on this connection so far (1 on the first).
  uint64_t uses() const { return uses_; }
  // Requests (streams) running on this connection now.
  uint32_t streams_in_use() const { return streams_in_use_; }
  // The concurrent streams this connection may carry: 1 until the
  // connection says otherwise (MarkConnected), never above the host's
  // max_streams_per_connection at that time.
  uint32_t max_streams() const { return max_streams_; }
  // No new stream goes on this connection (HTTP/2 GOAWAY, a broken
  // connection, its lifetime is over): it closes when its last stream is
  // released.
  bool going_away() const { return going_away_; }
  absl::Time opened_at() const { return opened_at_; }
  class HostPool& pool() const { return *pool_; }

 private:
  friend class HostPool;
  explicit Slot(class HostPool* pool) : pool_(pool) {}

  class HostPool* pool_;
  State state_ = State::kConnecting;
  std::unique_ptr<Connection> connection_;
  std::list<std::unique_ptr<Slot>>::iterator where_;  // position in its list
  absl::Time opened_at_;
  absl::Time idle_since_;
  uint64_t uses_ = 0;
  // Of the streams in use, those leased on a connection that had served an
  // earlier request (a release of a complete one counts as a reuse).
  uint32_t reused_streams_ = 0;
  uint32_t streams_in_use_ = 0;
  uint32_t max_streams_ = 1;
  bool going_away_ = false;
  CloseReason going_away_reason_ = CloseReason::kUpstream;  // when going_away_
};

// What a waiter is given: a slot in kConnecting (fresh), or a stream on an
// open connection (reused).
struct Lease {
  Slot* slot = nullptr;
  bool fresh = false;       // a new connection: the exchange must connect first
  absl::Duration waited;    // time spent in the wait queue
  // A stream on a multiplexed connection that other fetches are using now:
  // the transport must not connect, it adds a stream to the open connection.
  bool shared = false;
};

// The per-host pool: a state machine over slots (connecting, busy, partly
// used, idle) and
// a FIFO of waiters with deadlines.
//
// Not thread-safe: one thread (the engine's event loop) owns it. Callbacks are
// run after each transition completes, with the invariants holding, so they
// may call back into the pool. The pool keeps its own books: every counter
// is bumped here, where the event happens, never by its owner. It arms its
// timer (when given a TimerFactory) for its next deadline whenever that
// changes.
//
// Streams: a slot is one connection carrying up to max_streams() requests
// (1 for HTTP/1.1, the origin's limit capped by max_streams_per_connection
// for HTTP/2). Acquire takes, in order: a free stream on an open
// multiplexed connection (the fullest with room, so others go idle and
// expire), an idle connection, a new connection if the cap allows, else it
// queues. A host that may multiplex (config().may_multiplex) gets no new
// connection while the connecting ones may carry the caller (pending
// streams, see PendingStreams); a host learned to speak HTTP/1.1 never waits
// on a connecting slot.
//
// Invariants (CheckInvariants):
//   connecting + busy + partial + idle == slots
//   per slot: streams_in_use <= max_streams; the list matches the streams:
//   idle <=> 0 streams and not going away; busy <=> streams > 0 and (no room
//   left under min(max_streams, max_streams_per_connection), or going away);
//   partial <=> 0 < streams < that room and not going away; connecting
//   slots carry at most 1 stream and max_streams 1
//   streams_in_use (the gauge) == the sum over slots; the going-away count
//   == the slots going away
//   slots <= max(max_connections, slot_ceiling): the cap holds, except after
//   Reconfigure lowered it below the busy count. Then the slots of that
//   moment are the ceiling, and it only comes down as connections close, so
//   no connection is ever opened (or kept idle) while over the cap:
//   slots > max_connections implies idle == 0
//   idle <= max_idle
//   waiters only while no slot is free: waiters > 0 implies idle == 0,
//   partial == 0 (no free stream on an open connection) and either
//   slots >= max_connections or waiters <= pending streams
//   waiters <= max(max_waiters, waiter_ceiling): waiters queued before
//   max_waiters was lowered stay; the ceiling only comes down as they leave
//   the waiter queue holds live waiters only (cancelled ones are removed at once)
//   connections_opened_total - connections_closed_total == slots
class HostPool {
 public:
  using WaiterId = uint64_t;
  // Runs exactly once: with a lease, or with WAIT_TIMEOUT, QUEUE_FULL,
  // DEADLINE_EXCEEDED, CANCELLED or SHUTTING_DOWN.
  using LeaseCallback = absl::AnyInvocable<void(absl::StatusOr<Lease>)>;

  // `timers`: wakes the pool at its deadlines; null when the owner calls
  // OnTimer itself (tests on a fake clock).
  HostPool(std::string key, HostPoolConfig config, const Clock& clock, Transport& transport,
           TimerFactory* timers = nullptr);
  ~HostPool();  // closes every connection; fails waiters with SHUTTING_DOWN
  HostPool(const HostPool&) = delete;
  HostPool& operator=(const HostPool&) = delete;

  const std::string& key() const { return key_; }
  const HostPoolConfig& config() const { return config_; }

  // Live reconfiguration (host_pool_reconfigure.cc), a transition like the
  // others. Nothing in use is taken away: busy and connecting slots stay
  // over a lowered cap until released (then closed rather than kept or
  // handed on), queued waiters stay over a lowered max_waiters. Idle
  // connections over the new caps close at once (kIdleOverflow); a raised
  // cap opens new connections for queued waiters at once, in FIFO order.
  // wait_timeout applies to waiters that arrive after; the idle timer is
  // re-armed for the new idle_timeout (still lowered by a Keep-Alive hint
  // already learned). INVALID_ARGUMENT (and nothing changed) when `config`
  // does not validate.
  absl::Status Reconfigure(HostPoolConfig config);

  struct AcquireOptions {
    // A replay after a reused connection failed (counted in retries_total):
    // prefer a new connection over an idle one that may be just as stale.
    // When the pool is at its cap, the oldest idle connection is closed to
    // make room. With no room for a new connection it takes a free stream
    // on an open multiplexed connection if there is one, and never waits
    // for a connecting slot's streams. Queues as usual otherwise.
    bool replay = false;
    // The fetch is sent again because the origin never processed its
    // HTTP/2 stream (counted in refused_streams_total; with or without
    // `replay`).
    bool refused_stream = false;
  };

  // Asks for a connection for a fetch that must have one by `deadline`
  // (counted in requests_total; the lease's wait in queue_wait).
  // Returns the waiter id (for Cancel) when the caller was queued, 0 when the
  // callback already ran.
  WaiterId Acquire(absl::Time deadline, LeaseCallback callback) {
    return Acquire(deadline, std::move(callback), AcquireOptions{});
  }
  WaiterId Acquire(absl::Time deadline, LeaseCallback callback, AcquireOptions options);

  // Removes a queued waiter; its callback runs with CANCELLED. False when the
  // waiter is no longer queued: it was served or expired, and its callback
  // has run or is about to (within the batch of callbacks now running).
  bool Cancel(WaiterId id);

  // A fresh slot's connection is established: kConnecting -> kBusy (or
  // kPartial). It can carry min(max_streams, max_streams_per_connection)
  // concurrent streams: 1 for HTTP/1.1, the origin's
  // SETTINGS_MAX_CONCURRENT_STREAMS for HTTP/2 (0 is taken as 1). The pool
  // learns the value (learned_streams_per_connection). The free streams go
  // to queued waiters at once, in FIFO order, as shared leases; waiters the
  // pool had counted on this connection and that it cannot carry (it turned
  // out HTTP/1.1, or a lower limit) get new connections as the cap allows.
  void MarkConnected(Slot* slot, uint32_t max_streams = 1);

  // The origin will start no new stream on this connection (HTTP/2 GOAWAY)
  // while streams still run on it: it is leased no more, and closes
  // (kUpstream) when its last stream is released (at once if it has none).
  void MarkGoingAway(Slot* slot);

  // The streams per connection the host's latest connection reported in
  // MarkConnected (uncapped): 1 for HTTP/1.1, 0 while not known.
  uint32_t learned_streams_per_connection() const { return learned_streams_; }

  // The exchange on `slot` is over. After kComplete the slot goes to the
  // first live waiter, else idle; otherwise the connection is closed (for
  // the reason `end` names) and, if callers wait, a new connection is
  // opened for the first of them. A complete exchange on a reused lease
  // counts in reused_requests_total.
  //
  // On a multiplexed slot (max_streams() > 1) it releases one stream:
  //   kComplete, kAborted (only the stream was reset): the stream is free
  //     again: it goes to the first live waiter, else the slot is partly
  //     used, or idle once no stream is left (idle cap and lifetime as for
  //     HTTP/1.1);
  //   kCompleteClosed: the connection is going away (as MarkGoingAway);
  //   kStale, kFailed: the connection is broken: going away, and closed
  //     (kStale, kError) when its last stream is released.
  // A going-away slot closes when its last stream is released. A release
  // does not name its stream: a complete one counts as a reuse while any
  // stream leased as a reuse still runs on the slot.
  void Release(Slot* slot, ExchangeEnd end);
  // Hands back a reused lease that carried no request (the fetch was
  // refused after the lease, e.g. its egress profile denies the address the
  // connection is open to): the untouched connection goes to the next
  // waiter or back idle, and nothing counts as a use or a request.
  void ReturnUnused(Slot* slot);

  // The transport found the leased slot's connection dead when the exchange
  // began and connected again inside the slot: one close (stale) and one
  // open, and the lease is no longer a reuse.
  void ConnectionReplaced(Slot* slot);
  // The transport resolved the host's name (a DNS cache miss).
  void RecordDnsLookup() { ++counters_.dns_lookups_total; }
  // The transport made a TLS handshake on a new connection, resuming an
  // earlier session or not, in `took` (TCP connected to TLS established).
  void RecordTlsHandshake(bool resumed, absl::Duration took) {
    ++counters_.tls_handshakes_total;
    if (resumed) ++counters_.tls_sessions_resumed_total;
    counters_.tls_handshake_time.Record(took);
  }
  // A new connection speaks `protocol` ("http/1.1", "h2"): the pool's
  // protocol in Stats is the latest connection's.
  void RecordProtocol(absl::string_view protocol) {
    if (counters_.protocol != protocol) counters_.protocol = std::string(protocol);
  }
  // A fetch that asked this pool ended after `elapsed`: OK, or the error it
  // was answered with (failures_total, errors_by_reason).
  void RecordFetchEnd(absl::Duration elapsed, const absl::Status& status);

  // The origin closed an idle connection (the transport saw it).
  void OnIdleConnectionLost(Slot* slot);

  // Expires waiters and idle connections whose time has come.
  void OnTimer();
  // When OnTimer next has work; InfiniteFuture() when nothing is scheduled.
  absl::Time NextDeadline() const;

  // Lowers the idle timeout to follow an origin's "Keep-Alive: timeout=N".
  void ApplyKeepAliveHint(absl::Duration origin_timeout);
  absl::Duration idle_timeout() const { return idle_timeout_; }

  // Closes every idle connection (e.g. before eviction or on drain).
  void CloseAllIdle(CloseReason reason);
  // Fails every waiter with `status` (drain / shutdown).
  void FailAllWaiters(const absl::Status& status);

  // True when the pool holds nothing: no slots, no waiters (may be evicted).
  bool Empty() const { return SlotCount() == 0 && waiters_.empty(); }
  size_t SlotCount() const {
    return connecting_.size() + busy_.size() + partial_.size() + idle_.size();
  }
  size_t waiter_count() const { return waiters_.size(); }
  // Connected slots with at least one stream in use (busy or partly used).
  size_t busy_count() const { return busy_.size() + partial_.size(); }
  // Multiplexed connections with streams in use and room for more.
  size_t partial_count() const { return partial_.size(); }
  // Streams in use over all connections.
  size_t streams_in_use() const { return streams_in_use_; }
  size_t idle_count() const { return idle_.size(); }
  size_t connecting_count() const { return connecting_.size(); }
  absl::Time last_used() const { return last_used_; }

  // The books as kept (counters only; gauges are in Snapshot).
  const HostPoolStatsSnapshot& counters() const { return counters_; }
  // Gauges computed now, counters as kept. Expires due waiters first so the
  // queue length counts live waiters only.
  HostPoolStatsSnapshot Snapshot();

  // OK, or FAILED_PRECONDITION describing the first broken invariant.
  absl::Status CheckInvariants() const;

 private:
  using SlotList = std::list<std::unique_ptr<Slot>>;
  struct Waiter {
    absl::Time deadline;
    absl::Time enqueued_at;
    LeaseCallback callback;
  };
  // Callbacks collected during a transition, run once it is complete.
  using Completions = std::vector<std::pair<LeaseCallback, absl::StatusOr<Lease>>>;
  // Re-arms the timer, if the next deadline moved, when a public operation
  // returns (after its completions ran, which may have changed it again).
  class RearmOnExit {
   public:
    explicit RearmOnExit(HostPool* pool) : pool_(pool) {}
    ~RearmOnExit() { pool_->RearmTimer(); }
    RearmOnExit(const RearmOnExit&) = delete;
    RearmOnExit& operator=(const RearmOnExit&) = delete;

   private:
    HostPool* pool_;
  };
  void RearmTimer();
  // A lease for a new stream on `slot` (streams_in_use counts it), with its
  // wait recorded.
  Lease MakeLease(Slot* slot, bool fresh, absl::Duration waited);

  // The one transition function: moves `slot` to `to`'s list.
  void MoveTo(Slot* slot, Slot::State to);
  SlotList& ListOf(Slot::State state);
  Slot* NewSlot();
  void CloseSlot(Slot* slot, CloseReason reason);
  // Finds a live idle connection, closing stale and over-age ones; nullptr if none.
  Slot* TakeIdle();
  bool PastLifetime(const Slot& slot, absl::Time now) const;
  // Removes and returns the oldest waiter whose deadline has not passed,
  // failing (WAIT_TIMEOUT) the expired ones queued before it.
  absl::optional<Waiter> PopLiveWaiter(absl::Time now, Completions& done);
  // Opens new connections for waiters while there is capacity and more
  // waiters than the connecting slots' pending streams.
  void ServeWaitersWithNewSlots(Completions& done);
  // ---- streams (host_pool_streams.cc) ----
  // Streams `slot` may carry now: its max_streams, capped by the config.
  uint32_t StreamRoom(const Slot& slot) const;
  // Streams a connection still being established is expected to carry.
  uint32_t ExpectedStreams() const;
  // Waiters the connecting slots are expected to carry once connected.
  size_t PendingStreams() const;
  // Moves a connected slot with streams to the list they call for (busy or
  // partial); connecting and idle slots stay where they are.
  void Refile(Slot* slot);
  // Hands the free streams of `slot` to live waiters, FIFO.
  void HandOffStreams(Slot* slot, Completions& done);
  // An open slot that is not going away, after a stream was freed or it
  // connected: its free streams go to waiters; then it is filed by its
  // streams, or kept idle, or closed (kIdleOverflow) when the idle list is
  // full or the pool is over its cap.
  void OfferOrPark(Slot* slot, Completions& done);
  // The fullest partly used connection with room (not past its lifetime);
  // nullptr if none.
  Slot* TakeFreeStream();
  // No new stream on `slot`; closed for `reason` with its last stream (a
  // failure replaces a milder reason given before).
  void SetGoingAway(Slot* slot, CloseReason reason);
  // A released slot must go (kIdleOverflow) to bring the pool down to a
  // lowered cap.
  bool ShedOverCap(const Slot& slot) const;
  // Closes `slot` if it is going away with no stream left, and serves the
  // waiters with new connections. True when closed.
  bool CloseIfDrained(Slot* slot, Completions& done);
  // After Reconfigure changed the stream cap: each slot in the right list,
  // free streams handed out.
  void RefileAll(Completions& done);
  // One slot's streams against its list (part of CheckInvariants).
  absl::Status CheckSlotStreams(const Slot& slot) const;
  void ExpireDue(Completions& done);
  void EraseWaiter(absl::btree_map<WaiterId, Waiter>::iterator it);
  // More slots than the cap (only after Reconfigure lowered it): a released
  // connection closes instead of being kept or handed on.
  bool OverCap() const { return SlotCount() > config_.max_connections; }
  absl::Status WaitTimeoutError(const Waiter& waiter, absl::Time now) const;
  void PruneTimeWait(absl::Time now);
  static void RunCompletions(Completions& done);

  const std::string key_;
  HostPoolConfig config_;  // replaced only by Reconfigure
  const Clock& clock_;
  Transport& transport_;
  std::unique_ptr<PoolTimer> timer_;  // null: the owner calls OnTimer
  absl::Time timer_at_ = absl::InfiniteFuture();
  absl::Duration idle_timeout_;
  // What the origin's Keep-Alive hint allows (ApplyKeepAliveHint), kept so
  // a reconfigured idle_timeout does not forget it.
  absl::Duration learned_idle_timeout_ = absl::InfiniteDuration();
  // See the invariants above: the slots and waiters held over a cap that
  // Reconfigure lowered; only ever lowered after that, as they leave.
  size_t slot_ceiling_ = 0;
  size_t waiter_ceiling_ = 0;
  bool shutting_down_ = false;  // set by the destructor

  SlotList connecting_;
  SlotList busy_;
  SlotList partial_;  // multiplexed, some streams in use, room for more
  SlotList idle_;     // most recently released first
  size_t streams_in_use_ = 0;  // over all slots
  size_t going_away_slots_ = 0;
  uint32_t learned_streams_ = 0;  // MarkConnected's latest value; 0: unknown

  WaiterId next_waiter_id_ = 1;
  absl::btree_map<WaiterId, Waiter> waiters_;  // FIFO: ids only grow
  absl::btree_set<std::pair<absl::Time, WaiterId>> waiter_deadlines_;

  std::deque<absl::Time> local_closes_;  // our active closes, last 60 s
  absl::Time last_used_;
  HostPoolStatsSnapshot counters_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_POOL_HOST_POOL_H_
