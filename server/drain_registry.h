#ifndef FETCHPOOL_SERVER_DRAIN_REGISTRY_H_
#define FETCHPOOL_SERVER_DRAIN_REGISTRY_H_

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace fetchpool {

// A long-lived call a drain must end. gRPC's Server::Shutdown waits for
// every call, and a FetchStream or WatchStats that nobody ends would hold
// the drain until the grace deadline and then be cut off.
class Drainable {
 public:
  // Ends the call gracefully, soon: no new work is taken, work in flight is
  // answered, then the call finishes UNAVAILABLE / SHUTTING_DOWN so the
  // caller reconnects to another replica. Idempotent; any thread; returns
  // without waiting and without calling back into the registry.
  virtual void Drain() = 0;

 protected:
  ~Drainable() = default;
};

// The open long-lived calls of a service, so that a drain reaches each.
// Thread-safe: gRPC threads add and remove, the draining thread drains.
class DrainRegistry {
 public:
  DrainRegistry() = default;
  DrainRegistry(const DrainRegistry&) = delete;
  DrainRegistry& operator=(const DrainRegistry&) = delete;

  // Registers an open call; once the drain has begun, drains it at once
  // instead (a call that slipped in while the server stopped accepting).
  void Add(Drainable* call);
  // Unregisters; must come before `call` is destroyed.
  void Remove(Drainable* call);
  // Drains every registered call, and every one added from now on. Calls
  // Drain under the registry's lock, so no call is destroyed meanwhile
  // (Remove waits).
  void DrainAll();
  bool draining() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<Drainable*> open_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_DRAIN_REGISTRY_H_
