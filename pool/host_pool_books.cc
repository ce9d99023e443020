// HostPool's books: the Stats snapshot and the invariants every
// transition must leave holding (host_pool.h lists them).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pool/host_pool.h"

namespace fetchpool {

HostPoolStatsSnapshot HostPool::Snapshot() {
  OnTimer();
  const absl::Time now = clock_.Now();
  HostPoolStatsSnapshot s = counters_;
  s.host = key_;
  s.max_connections = config_.max_connections;
  s.max_idle_connections = config_.EffectiveMaxIdle();
  s.busy_connections = static_cast<uint32_t>(busy_count());
  s.streams_in_use = static_cast<uint32_t>(streams_in_use_);
  s.max_streams_per_connection = learned_streams_;
  s.idle_connections = static_cast<uint32_t>(idle_.size());
  s.connecting_connections = static_cast<uint32_t>(connecting_.size());
  s.wait_queue_length = static_cast<uint32_t>(waiters_.size());
  s.oldest_waiter_age_us =
      waiters_.empty()
          ? 0
          : static_cast<uint64_t>(absl::ToInt64Microseconds(now - waiters_.begin()->second.enqueued_at));
  s.time_wait_estimate = static_cast<uint32_t>(local_closes_.size());
  s.idle_timeout_ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(idle_timeout_));
  return s;
}

absl::Status HostPool::CheckSlotStreams(const Slot& slot) const {
  auto fail = [&](auto&&... parts) {
    return absl::FailedPreconditionError(absl::StrCat(
        key_, ": slot with ", slot.streams_in_use_, "/", slot.max_streams_, " streams (room ",
        StreamRoom(slot), slot.going_away_ ? ", going away" : "", "): ", parts...));
  };
  if (slot.max_streams_ == 0) return fail("max_streams is 0");
  if (slot.streams_in_use_ > slot.max_streams_) return fail("more streams than the connection allows");
  if (slot.reused_streams_ > slot.streams_in_use_) return fail("more reused streams than streams");
  switch (slot.state_) {
    case Slot::State::kConnecting:
      if (slot.max_streams_ != 1 || slot.streams_in_use_ > 1) {
        return fail("connecting with more than one stream");
      }
      break;
    case Slot::State::kIdle:
      if (slot.streams_in_use_ != 0) return fail("idle with streams in use");
      if (slot.going_away_) return fail("idle while going away");
      break;
    case Slot::State::kBusy:
      if (slot.streams_in_use_ == 0) return fail("busy without a stream");
      if (!slot.going_away_ && slot.streams_in_use_ < StreamRoom(slot)) {
        return fail("busy with room for more streams");
      }
      break;
    case Slot::State::kPartial:
      if (slot.streams_in_use_ == 0 || slot.streams_in_use_ >= StreamRoom(slot)) {
        return fail("partly used without streams or without room");
      }
      if (slot.going_away_) return fail("partly used while going away");
      break;
  }
  return absl::OkStatus();
}

absl::Status HostPool::CheckInvariants() const {
  auto fail = [&](auto&&... parts) {
    return absl::FailedPreconditionError(absl::StrCat(key_, ": ", parts...));
  };
  // Over the cap only after Reconfigure lowered it, never above the slots
  // held then (the ceiling comes down as they close), and never with an
  // idle connection: a released one closes instead.
  if (SlotCount() > std::max<size_t>(config_.max_connections, slot_ceiling_)) {
    return fail("slots ", SlotCount(), " exceed max ", config_.max_connections,
                " and the ceiling left by a lowered cap (", slot_ceiling_, ")");
  }
  if (OverCap() && !idle_.empty()) {
    return fail(idle_.size(), " idle while over the cap (slots ", SlotCount(), "/",
                config_.max_connections, ")");
  }
  if (idle_.size() > config_.EffectiveMaxIdle()) {
    return fail("idle ", idle_.size(), " exceeds idle cap ", config_.EffectiveMaxIdle());
  }
  // Waiters only while nothing is free: no idle connection, no free stream
  // on an open one, and no room for a connection, unless the connecting
  // slots are expected to carry every waiter (multiplexing).
  if (!waiters_.empty() &&
      (!idle_.empty() || !partial_.empty() ||
       (SlotCount() < config_.max_connections && waiters_.size() > PendingStreams()))) {
    return fail(waiters_.size(), " waiters while a slot is free (idle ", idle_.size(),
                ", partly used ", partial_.size(), ", slots ", SlotCount(), "/",
                config_.max_connections, ", pending streams ", PendingStreams(), ")");
  }
  if (waiters_.size() != waiter_deadlines_.size()) {
    return fail("waiter index drift: ", waiters_.size(), " vs ", waiter_deadlines_.size());
  }
  if (waiters_.size() > std::max<size_t>(config_.max_waiters, waiter_ceiling_)) {
    return fail("waiters ", waiters_.size(), " exceed max ", config_.max_waiters,
                " and the ceiling left by a lowered max_waiters (", waiter_ceiling_, ")");
  }
  for (const auto& [id, waiter] : waiters_) {
    if (!waiter.callback) return fail("waiter ", id, " has no callback");
  }
  absl::Time prev_idle = absl::InfiniteFuture();
  const std::pair<const SlotList*, Slot::State> lists[] = {
      {&connecting_, Slot::State::kConnecting},
      {&busy_, Slot::State::kBusy},
      {&partial_, Slot::State::kPartial},
      {&idle_, Slot::State::kIdle}};
  size_t streams = 0;
  size_t going_away = 0;
  for (const auto& [list, state] : lists) {
    for (auto it = list->begin(); it != list->end(); ++it) {
      const Slot* slot = it->get();
      if (slot->state_ != state) return fail("slot in the wrong list");
      if (slot->where_ != it) return fail("slot position drift");
      if (slot->pool_ != this) return fail("slot of another pool");
      if (!slot->connection_) return fail("slot without a connection");
      absl::Status s = CheckSlotStreams(*slot);
      if (!s.ok()) return s;
      streams += slot->streams_in_use_;
      going_away += slot->going_away_;
      if (state == Slot::State::kIdle) {
        if (slot->idle_since_ > prev_idle) return fail("idle list out of order");
        prev_idle = slot->idle_since_;
      }
    }
  }
  if (going_away != going_away_slots_) {
    return fail("going-away slots ", going_away_slots_, " != their count ", going_away);
  }
  if (streams != streams_in_use_) {
    return fail("streams in use ", streams_in_use_, " != their sum over slots ", streams);
  }
  const uint64_t opened = counters_.connections_opened_total;
  const uint64_t closed = counters_.connections_closed_total;
  if (opened - closed != SlotCount()) {
    return fail("opened ", opened, " - closed ", closed, " != slots ", SlotCount());
  }
  return absl::OkStatus();
}

}  // namespace fetchpool
