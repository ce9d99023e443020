// HostPool's streams: slots that carry several concurrent requests on one
// multiplexed (HTTP/2) connection. The transitions here follow the rules of
// the others (host_pool.h): slots move only through MoveTo and CloseSlot,
// and the lease callbacks produced run once the invariants hold again. An
// HTTP/1.1 slot is the case max_streams() == 1.
#include <algorithm>
#include <vector>

#include "pool/host_pool.h"

namespace fetchpool {
namespace {

// A close reason that says the connection broke, rather than that it ended
// in an orderly way (GOAWAY, lifetime, over a cap).
bool IsFailure(CloseReason reason) {
  return reason == CloseReason::kError || reason == CloseReason::kStale ||
         reason == CloseReason::kAborted;
}

}  // namespace

uint32_t HostPool::StreamRoom(const Slot& slot) const {
  return std::min(slot.max_streams_, config_.max_streams_per_connection);
}

uint32_t HostPool::ExpectedStreams() const {
  if (!config_.may_multiplex) return 1;
  // Not known yet: as many as the cap allows (the origin's limit is only
  // learned when the first connection is up).
  if (learned_streams_ == 0) return config_.max_streams_per_connection;
  return std::min(learned_streams_, config_.max_streams_per_connection);
}

size_t HostPool::PendingStreams() const {
  const uint32_t expected = ExpectedStreams();
  if (expected <= 1) return 0;
  size_t pending = 0;
  for (const auto& slot : connecting_) {
    if (slot->going_away_) continue;
    pending += expected - std::min(slot->streams_in_use_, expected);
  }
  return pending;
}

void HostPool::Refile(Slot* slot) {
  if (slot->state_ == Slot::State::kConnecting || slot->state_ == Slot::State::kIdle) return;
  if (slot->streams_in_use_ == 0) return;  // the caller decides: idle or closed
  const Slot::State to = slot->going_away_ || slot->streams_in_use_ >= StreamRoom(*slot)
                             ? Slot::State::kBusy
                             : Slot::State::kPartial;
  if (slot->state_ != to) MoveTo(slot, to);
}

void HostPool::HandOffStreams(Slot* slot, Completions& done) {
  if (slot->going_away_ || slot->state_ == Slot::State::kConnecting) return;
  const absl::Time now = clock_.Now();
  while (slot->streams_in_use_ < StreamRoom(*slot)) {
    absl::optional<Waiter> waiter = PopLiveWaiter(now, done);
    if (!waiter.has_value()) return;
    done.emplace_back(std::move(waiter->callback),
                      MakeLease(slot, /*fresh=*/false, now - waiter->enqueued_at));
  }
}

void HostPool::OfferOrPark(Slot* slot, Completions& done) {
  HandOffStreams(slot, done);
  if (slot->streams_in_use_ > 0) {
    Refile(slot);
  } else if (idle_.size() >= config_.EffectiveMaxIdle() || OverCap()) {
    CloseSlot(slot, CloseReason::kIdleOverflow);
  } else {
    MoveTo(slot, Slot::State::kIdle);
  }
}

Slot* HostPool::TakeFreeStream() {
  const absl::Time now = clock_.Now();
  Slot* best = nullptr;
  for (auto it = partial_.begin(); it != partial_.end();) {
    Slot* slot = it->get();
    ++it;  // Refile below moves `slot` out of this list
    if (PastLifetime(*slot, now)) {
      // Too old for new streams; it closes when its running ones end.
      SetGoingAway(slot, CloseReason::kMaxLifetime);
      Refile(slot);
      continue;
    }
    if (slot->streams_in_use_ >= StreamRoom(*slot)) continue;
    // The fullest with room: packing streams lets the others go idle.
    if (best == nullptr || slot->streams_in_use_ > best->streams_in_use_) best = slot;
  }
  return best;
}

void HostPool::SetGoingAway(Slot* slot, CloseReason reason) {
  if (!slot->going_away_) {
    slot->going_away_ = true;
    slot->going_away_reason_ = reason;
    ++going_away_slots_;
  } else if (IsFailure(reason) && !IsFailure(slot->going_away_reason_)) {
    slot->going_away_reason_ = reason;  // still one close, counted once
  }
}

bool HostPool::ShedOverCap(const Slot& slot) const {
  if (slot.streams_in_use_ == 0) return OverCap();  // never kept idle over the cap
  // Streams still run on it: it only stops taking new ones (and closes with
  // its last) while the slots that are not already going away exceed the
  // cap, so a lowered cap does not drain every connection at once.
  return SlotCount() - going_away_slots_ > config_.max_connections;
}

bool HostPool::CloseIfDrained(Slot* slot, Completions& done) {
  if (!slot->going_away_ || slot->streams_in_use_ > 0) return false;
  CloseSlot(slot, slot->going_away_reason_);
  ServeWaitersWithNewSlots(done);
  return true;
}

void HostPool::MarkConnected(Slot* slot, uint32_t max_streams) {
  RearmOnExit rearm(this);
  if (slot->state_ != Slot::State::kConnecting) return;
  Completions done;
  const uint32_t reported = std::max<uint32_t>(max_streams, 1);
  learned_streams_ = reported;
  slot->max_streams_ = std::min(reported, config_.max_streams_per_connection);
  MoveTo(slot, Slot::State::kBusy);
  if (!CloseIfDrained(slot, done)) OfferOrPark(slot, done);
  // The waiters counted on this connection that it cannot carry (it speaks
  // HTTP/1.1, or allows fewer streams), and those counted on the other
  // connecting slots whose expected streams the learned value lowered.
  ServeWaitersWithNewSlots(done);
  RunCompletions(done);
}

void HostPool::MarkGoingAway(Slot* slot) {
  RearmOnExit rearm(this);
  Completions done;
  SetGoingAway(slot, CloseReason::kUpstream);
  if (!CloseIfDrained(slot, done)) {
    Refile(slot);
    // A connecting slot going away no longer counts as pending streams.
    ServeWaitersWithNewSlots(done);
  }
  RunCompletions(done);
}

void HostPool::RefileAll(Completions& done) {
  std::vector<Slot*> slots;
  for (SlotList* list : {&busy_, &partial_}) {
    for (const auto& slot : *list) slots.push_back(slot.get());
  }
  for (Slot* slot : slots) {
    Refile(slot);
    if (slot->state_ == Slot::State::kPartial) {
      HandOffStreams(slot, done);
      Refile(slot);
    }
  }
}

}  // namespace fetchpool
