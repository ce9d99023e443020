#include "server/drain_registry.h"

namespace fetchpool {

void DrainRegistry::Add(Drainable* call) {
  absl::MutexLock lock(&mu_);
  open_.insert(call);
  if (draining_) call->Drain();
}

void DrainRegistry::Remove(Drainable* call) {
  absl::MutexLock lock(&mu_);
  open_.erase(call);
}

void DrainRegistry::DrainAll() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  for (Drainable* call : open_) call->Drain();
}

bool DrainRegistry::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

}  // namespace fetchpool
