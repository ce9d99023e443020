// HostPool::Reconfigure: new limits for a pool that is in use. It is a
// transition like Acquire or Release (host_pool.h): slots move only through
// MoveTo and CloseSlot, and the lease callbacks it produces run once the
// invariants hold again.
#include <algorithm>

#include "pool/host_pool.h"

namespace fetchpool {

absl::Status HostPool::Reconfigure(HostPoolConfig config) {
  absl::Status valid = config.Validate();
  if (!valid.ok()) return valid;
  RearmOnExit rearm(this);
  Completions done;
  config_ = config;
  // What is held now may stay over the new caps (nothing in use is taken
  // away); CheckInvariants holds the pool to these ceilings, which only
  // come down from here.
  slot_ceiling_ = SlotCount();
  waiter_ceiling_ = waiters_.size();
  // The coldest idle connections go first (the back of the list), until
  // both the idle cap and the connection cap hold or nothing idle is left.
  while (!idle_.empty() && (idle_.size() > config_.EffectiveMaxIdle() || OverCap())) {
    CloseSlot(idle_.back().get(), CloseReason::kIdleOverflow);
  }
  // A changed stream cap moves multiplexed slots between busy and partly
  // used: a lowered one leases no new stream over it (running streams are
  // not cut), a raised one hands the new room to queued waiters at once.
  RefileAll(done);
  // A raised cap serves the queue now, oldest waiter first, rather than at
  // the next release.
  ServeWaitersWithNewSlots(done);
  idle_timeout_ = config_.learn_keep_alive ? std::min(config_.idle_timeout, learned_idle_timeout_)
                                           : config_.idle_timeout;
  RunCompletions(done);
  return absl::OkStatus();
}

}  // namespace fetchpool
