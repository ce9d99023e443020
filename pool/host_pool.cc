#include "pool/host_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/reason.h"

namespace fetchpool {
namespace {

// Linux keeps a socket that closed first in TIME_WAIT for 2*MSL = 60 s.
constexpr absl::Duration kTimeWaitPeriod = absl::Seconds(60);

}  // namespace

HostPool::HostPool(std::string key, HostPoolConfig config, const Clock& clock,
                   Transport& transport, TimerFactory* timers)
    : key_(std::move(key)),
      config_(config),
      clock_(clock),
      transport_(transport),
      idle_timeout_(config.idle_timeout),
      last_used_(clock.Now()) {
  counters_.host = key_;
  if (timers != nullptr) {
    timer_ = timers->CreateTimer([this] {
      timer_at_ = absl::InfiniteFuture();  // fired: nothing is armed now
      OnTimer();
    });
  }
}

void HostPool::RearmTimer() {
  if (timer_ == nullptr) return;
  const absl::Time next = NextDeadline();
  if (next == timer_at_) return;
  timer_at_ = next;
  timer_->ArmAt(next);
}

Lease HostPool::MakeLease(Slot* slot, bool fresh, absl::Duration waited) {
  const bool shared = slot->streams_in_use_ > 0;
  ++slot->streams_in_use_;
  ++streams_in_use_;
  if (!fresh) {
    ++slot->uses_;
    ++slot->reused_streams_;
  }
  counters_.queue_wait.Record(waited);
  return Lease{slot, fresh, waited, shared};
}

HostPool::~HostPool() {
  timer_.reset();
  shutting_down_ = true;  // a callback that asks again is refused at once
  FailAllWaiters(MakeError(Reason::kShuttingDown, "fetchpool is shutting down"));
  for (SlotList* list : {&connecting_, &busy_, &partial_, &idle_}) {
    while (!list->empty()) CloseSlot(list->front().get(), CloseReason::kShutdown);
  }
}

HostPool::SlotList& HostPool::ListOf(Slot::State state) {
  switch (state) {
    case Slot::State::kConnecting: return connecting_;
    case Slot::State::kBusy: return busy_;
    case Slot::State::kIdle: return idle_;
    case Slot::State::kPartial: return partial_;
  }
  return busy_;
}

void HostPool::MoveTo(Slot* slot, Slot::State to) {
  SlotList& from_list = ListOf(slot->state_);
  SlotList& to_list = ListOf(to);
  const bool was_idle = slot->state_ == Slot::State::kIdle;
  // Idle slots go to the front (most recently used first): reuse takes the
  // warmest connection and the idle timer closes the coldest from the back.
  auto pos = to == Slot::State::kIdle ? to_list.begin() : to_list.end();
  to_list.splice(pos, from_list, slot->where_);
  slot->state_ = to;
  if (to == Slot::State::kIdle) slot->idle_since_ = clock_.Now();
  if (was_idle != (to == Slot::State::kIdle)) slot->connection_->SetIdle(!was_idle);
}

Slot* HostPool::NewSlot() {
  connecting_.push_back(std::unique_ptr<Slot>(new Slot(this)));
  Slot* slot = connecting_.back().get();
  slot->where_ = std::prev(connecting_.end());
  slot->opened_at_ = clock_.Now();
  slot->connection_ = transport_.NewConnection(*slot);
  slot->uses_ = 1;
  ++counters_.connections_opened_total;
  return slot;
}

void HostPool::CloseSlot(Slot* slot, CloseReason reason) {
  if (slot->state_ == Slot::State::kIdle) slot->connection_->SetIdle(false);
  const bool closed_first_here = slot->connection_->Close();
  ++counters_.connections_closed_total;
  switch (reason) {
    case CloseReason::kIdleTimeout:
      ++counters_.closed_idle_timeout_total;
      break;
    case CloseReason::kIdleOverflow:
      ++counters_.closed_idle_overflow_total;
      break;
    case CloseReason::kUpstream:
      ++counters_.closed_upstream_total;
      break;
    case CloseReason::kStale:
      ++counters_.closed_upstream_total;
      ++counters_.stale_caught_total;
      break;
    case CloseReason::kAborted:
      ++counters_.closed_aborted_total;
      break;
    case CloseReason::kMaxLifetime:
      ++counters_.closed_max_lifetime_total;
      break;
    case CloseReason::kError:
      ++counters_.closed_error_total;
      break;
    case CloseReason::kShutdown:
      ++counters_.closed_shutdown_total;
      break;
  }
  if (closed_first_here) {
    ++counters_.local_closes_total;
    local_closes_.push_back(clock_.Now());
  }
  streams_in_use_ -= slot->streams_in_use_;
  if (slot->going_away_) --going_away_slots_;
  ListOf(slot->state_).erase(slot->where_);  // destroys the slot
  slot_ceiling_ = std::min(slot_ceiling_, SlotCount());
}

bool HostPool::PastLifetime(const Slot& slot, absl::Time now) const {
  return config_.max_connection_lifetime != absl::ZeroDuration() &&
         now - slot.opened_at_ >= config_.max_connection_lifetime;
}

HostPool::WaiterId HostPool::Acquire(absl::Time deadline, LeaseCallback callback,
                                     AcquireOptions options) {
  RearmOnExit rearm(this);
  const absl::Time now = clock_.Now();
  last_used_ = now;
  ++counters_.requests_total;
  if (options.replay) ++counters_.retries_total;
  if (options.refused_stream) ++counters_.refused_streams_total;
  if (shutting_down_) {
    callback(MakeError(Reason::kShuttingDown, "fetchpool is shutting down"));
    return 0;
  }
  if (deadline <= now) {
    callback(MakeError(Reason::kDeadlineExceeded,
                       absl::StrCat("the call's deadline passed before a connection to ", key_,
                                    " was requested")));
    return 0;
  }
  // The timer may be late: expire dead waiters (they hold no queue place) and
  // idle connections past the idle timeout (never reuse them) first.
  OnTimer();
  // FIFO fairness: nobody jumps a queue. A non-empty queue means no slot or
  // stream is free (invariant), so there is nothing to take anyway.
  if (waiters_.empty()) {
    if (options.replay && SlotCount() >= config_.max_connections && !idle_.empty()) {
      CloseSlot(idle_.back().get(), CloseReason::kIdleOverflow);
    }
    if (!options.replay) {
      Slot* slot = TakeFreeStream();
      if (slot == nullptr) slot = TakeIdle();
      if (slot != nullptr) {
        Lease lease = MakeLease(slot, /*fresh=*/false, absl::ZeroDuration());
        Refile(slot);
        callback(std::move(lease));
        return 0;
      }
    }
    // A connection being established may carry this caller as a stream
    // (PIPEWAIT): wait for it rather than open another. A replay wants a
    // new connection of its own.
    const bool wait_for_pending =
        !options.replay && config_.max_waiters > 0 && PendingStreams() > 0;
    if (SlotCount() < config_.max_connections && !wait_for_pending) {
      callback(MakeLease(NewSlot(), /*fresh=*/true, absl::ZeroDuration()));
      return 0;
    }
    // A replay with no room for a connection of its own: a stream on a
    // live multiplexed connection rather than a wait.
    Slot* slot = options.replay ? TakeFreeStream() : nullptr;
    if (slot != nullptr) {
      Lease lease = MakeLease(slot, /*fresh=*/false, absl::ZeroDuration());
      Refile(slot);
      callback(std::move(lease));
      return 0;
    }
  }
  if (waiters_.size() >= config_.max_waiters) {
    ++counters_.queue_full_total;
    callback(MakeError(
        Reason::kQueueFull,
        absl::StrCat("wait queue for ", key_, " is full (", waiters_.size(), " waiting, ",
                     busy_count() + connecting_.size(), " busy of ", config_.max_connections,
                     ")")));
    return 0;
  }
  const WaiterId id = next_waiter_id_++;
  waiters_.emplace(id, Waiter{deadline, now, std::move(callback)});
  waiter_deadlines_.emplace(deadline, id);
  // Queued behind waiters that connecting slots will carry, with room for
  // another connection: the first waiter the pending streams do not cover
  // gets one (only with multiplexing; HTTP/1.1 waiters mean a full pool).
  if (SlotCount() < config_.max_connections && waiters_.size() > PendingStreams()) {
    Completions done;
    ServeWaitersWithNewSlots(done);
    RunCompletions(done);
    if (waiters_.find(id) == waiters_.end()) return 0;  // served (or expired)
  }
  return id;
}

Slot* HostPool::TakeIdle() {
  while (!idle_.empty()) {
    Slot* slot = idle_.front().get();
    if (!slot->connection_->LooksAlive()) {
      CloseSlot(slot, CloseReason::kStale);
      continue;
    }
    if (PastLifetime(*slot, clock_.Now())) {
      CloseSlot(slot, CloseReason::kMaxLifetime);
      continue;
    }
    MoveTo(slot, Slot::State::kBusy);
    return slot;
  }
  return nullptr;
}

bool HostPool::Cancel(WaiterId id) {
  RearmOnExit rearm(this);
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return false;
  LeaseCallback callback = std::move(it->second.callback);
  EraseWaiter(it);
  ++counters_.cancelled_waiters_total;
  callback(MakeError(Reason::kCancelled, "the call was cancelled while waiting for a connection"));
  return true;
}

void HostPool::EraseWaiter(absl::btree_map<WaiterId, Waiter>::iterator it) {
  waiter_deadlines_.erase({it->second.deadline, it->first});
  waiters_.erase(it);
  waiter_ceiling_ = std::min(waiter_ceiling_, waiters_.size());
}

absl::Status HostPool::WaitTimeoutError(const Waiter& waiter, absl::Time now) const {
  return MakeError(
      Reason::kWaitTimeout,
      absl::StrCat("waited ", absl::FormatDuration(absl::Trunc(now - waiter.enqueued_at,
                                                                absl::Milliseconds(1))),
                   " for a connection to ", key_, " (", busy_count() + connecting_.size(),
                   " busy, ", waiters_.size(), " waiting)"));
}


absl::optional<HostPool::Waiter> HostPool::PopLiveWaiter(absl::Time now, Completions& done) {
  // A waiter whose deadline passed but whose timer has not fired yet is
  // expired here, never given a slot it can no longer use; the next one is
  // tried. Stopping at the first dead waiter is the fasthttp wake-up-chain bug.
  while (!waiters_.empty()) {
    auto it = waiters_.begin();
    if (it->second.deadline <= now) {
      ++counters_.wait_timeouts_total;
      done.emplace_back(std::move(it->second.callback), WaitTimeoutError(it->second, now));
      EraseWaiter(it);
      continue;
    }
    Waiter live = std::move(it->second);
    EraseWaiter(it);
    return live;
  }
  return absl::nullopt;
}

void HostPool::ServeWaitersWithNewSlots(Completions& done) {
  const absl::Time now = clock_.Now();
  // Waiters up to the pending streams wait for the connecting slots.
  size_t pending = PendingStreams();
  while (SlotCount() < config_.max_connections && waiters_.size() > pending) {
    absl::optional<Waiter> waiter = PopLiveWaiter(now, done);
    if (!waiter.has_value()) return;
    done.emplace_back(std::move(waiter->callback),
                      MakeLease(NewSlot(), /*fresh=*/true, now - waiter->enqueued_at));
    pending += ExpectedStreams() - 1;  // the new slot's other streams
  }
}

namespace {

CloseReason CloseReasonFor(ExchangeEnd end) {
  switch (end) {
    case ExchangeEnd::kComplete:
    case ExchangeEnd::kCompleteClosed: return CloseReason::kUpstream;
    case ExchangeEnd::kStale: return CloseReason::kStale;
    case ExchangeEnd::kAborted: return CloseReason::kAborted;
    case ExchangeEnd::kFailed: return CloseReason::kError;
  }
  return CloseReason::kError;
}

}  // namespace

void HostPool::Release(Slot* slot, ExchangeEnd end) {
  RearmOnExit rearm(this);
  Completions done;
  const absl::Time now = clock_.Now();
  last_used_ = now;
  const bool complete = end == ExchangeEnd::kComplete || end == ExchangeEnd::kCompleteClosed;
  if (slot->streams_in_use_ > 0) {
    --slot->streams_in_use_;
    --streams_in_use_;
  }
  // Releases do not say which stream ended: a complete one counts as a
  // reuse while any reused stream runs; an incomplete one takes a reused
  // stream only when no other is left to take.
  if (complete && slot->reused_streams_ > 0) {
    --slot->reused_streams_;
    ++counters_.reused_requests_total;
  } else if (slot->reused_streams_ > slot->streams_in_use_) {
    --slot->reused_streams_;
  }
  // On a multiplexed connection an aborted exchange reset only its stream.
  const bool multiplexed = slot->max_streams_ > 1;
  const bool keep = end == ExchangeEnd::kComplete || (multiplexed && end == ExchangeEnd::kAborted);
  if (!keep) SetGoingAway(slot, CloseReasonFor(end));
  if (!slot->going_away_ && PastLifetime(*slot, now)) {
    SetGoingAway(slot, CloseReason::kMaxLifetime);
  }
  if (!slot->going_away_ && ShedOverCap(*slot)) {
    // Reconfigure lowered the cap below the busy count: this is how the
    // pool converges, one release at a time.
    SetGoingAway(slot, CloseReason::kIdleOverflow);
  }
  if (slot->state_ == Slot::State::kIdle) {
    // Nothing was leased on it: there is nothing to keep.
    CloseSlot(slot, slot->going_away_ ? slot->going_away_reason_ : CloseReason::kUpstream);
  } else if (slot->going_away_) {
    if (slot->streams_in_use_ == 0) {
      CloseSlot(slot, slot->going_away_reason_);
    } else {
      Refile(slot);
    }
  } else {
    if (slot->state_ == Slot::State::kConnecting) MoveTo(slot, Slot::State::kBusy);
    OfferOrPark(slot, done);
  }
  ServeWaitersWithNewSlots(done);
  RunCompletions(done);
}

void HostPool::ReturnUnused(Slot* slot) {
  RearmOnExit rearm(this);
  Completions done;
  if (slot->uses_ > 0) --slot->uses_;
  if (slot->streams_in_use_ > 0) {
    --slot->streams_in_use_;
    --streams_in_use_;
  }
  if (slot->reused_streams_ > 0) --slot->reused_streams_;
  if (!slot->going_away_ && ShedOverCap(*slot)) {
    SetGoingAway(slot, CloseReason::kIdleOverflow);  // converging after Reconfigure
  }
  if (!CloseIfDrained(slot, done)) OfferOrPark(slot, done);
  RunCompletions(done);
}

void HostPool::ConnectionReplaced(Slot* slot) {
  // The dead connection's close and the new one's open, in one place so
  // opened - closed still equals the slots.
  ++counters_.connections_closed_total;
  ++counters_.closed_upstream_total;
  ++counters_.stale_caught_total;
  ++counters_.connections_opened_total;
  if (slot->reused_streams_ > 0) --slot->reused_streams_;
}

void HostPool::RecordFetchEnd(absl::Duration elapsed, const absl::Status& status) {
  counters_.fetch_time.Record(elapsed);
  if (!status.ok()) {
    ++counters_.failures_total;
    ++counters_.errors_by_reason[ReasonOf(status)];
  }
}

void HostPool::OnIdleConnectionLost(Slot* slot) {
  RearmOnExit rearm(this);
  if (slot->state_ != Slot::State::kIdle) return;
  CloseSlot(slot, CloseReason::kUpstream);
}

void HostPool::ExpireDue(Completions& done) {
  const absl::Time now = clock_.Now();
  while (!waiter_deadlines_.empty() && waiter_deadlines_.begin()->first <= now) {
    auto it = waiters_.find(waiter_deadlines_.begin()->second);
    ++counters_.wait_timeouts_total;
    done.emplace_back(std::move(it->second.callback), WaitTimeoutError(it->second, now));
    EraseWaiter(it);
  }
  while (!idle_.empty() && idle_.back()->idle_since_ + idle_timeout_ <= now) {
    CloseSlot(idle_.back().get(), CloseReason::kIdleTimeout);
  }
  PruneTimeWait(now);
}

void HostPool::OnTimer() {
  RearmOnExit rearm(this);
  Completions done;
  ExpireDue(done);
  RunCompletions(done);
}

absl::Time HostPool::NextDeadline() const {
  absl::Time next = absl::InfiniteFuture();
  if (!waiter_deadlines_.empty()) next = waiter_deadlines_.begin()->first;
  if (!idle_.empty()) next = std::min(next, idle_.back()->idle_since_ + idle_timeout_);
  return next;
}

void HostPool::ApplyKeepAliveHint(absl::Duration origin_timeout) {
  if (!config_.learn_keep_alive || origin_timeout <= absl::ZeroDuration()) return;
  // Close 20% (at least 100ms) before the origin would: the origin's timer and
  // ours do not start at the same instant, and a FIN can be in flight.
  const absl::Duration margin = std::max(origin_timeout / 5, absl::Milliseconds(100));
  const absl::Duration learned = std::max(origin_timeout - margin, absl::Milliseconds(1));
  learned_idle_timeout_ = learned;
  idle_timeout_ = std::min(config_.idle_timeout, learned);
  RearmTimer();
}

void HostPool::CloseAllIdle(CloseReason reason) {
  RearmOnExit rearm(this);
  while (!idle_.empty()) CloseSlot(idle_.back().get(), reason);
}

void HostPool::FailAllWaiters(const absl::Status& status) {
  RearmOnExit rearm(this);
  Completions done;
  while (!waiters_.empty()) {
    auto it = waiters_.begin();
    done.emplace_back(std::move(it->second.callback), status);
    EraseWaiter(it);
  }
  RunCompletions(done);
}

void HostPool::PruneTimeWait(absl::Time now) {
  while (!local_closes_.empty() && local_closes_.front() + kTimeWaitPeriod <= now) {
    local_closes_.pop_front();
  }
}

void HostPool::RunCompletions(Completions& done) {
  for (auto& [callback, result] : done) callback(std::move(result));
}

}  // namespace fetchpool
