#ifndef FETCHPOOL_CLIENT_SDK_CPP_IN_FLIGHT_FETCHES_H_
#define FETCHPOOL_CLIENT_SDK_CPP_IN_FLIGHT_FETCHES_H_

#include <cstdint>
#include <functional>
#include <memory>

#include <grpcpp/client_context.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace fetchpool {

// The FetchAsync calls of one client whose state (ClientContext included)
// still exists. The client's destructor cancels them and waits until every
// one is gone. Why: a ClientContext holds a reference to the channel, and in
// gRPC 1.51 dropping a channel's last reference on a callback thread makes
// that thread join itself and crash (grpc/grpc#32584). Waiting keeps the
// client's own reference alive until no call state is left to drop one.
class InFlightFetches : public std::enable_shared_from_this<InFlightFetches> {
 public:
  // A call's membership; destroying it deregisters the call. Make it the
  // first member of the call's state so it is destroyed last, after the
  // ClientContext has let go of the channel.
  class Registration {
   public:
    Registration() = default;
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration();

   private:
    friend class InFlightFetches;
    std::shared_ptr<InFlightFetches> owner_;
    uint64_t id_ = 0;
  };

  // Registers a call about to start into the empty `registration`.
  // `cancel` stops the call; it must hold the call's state weakly.
  void Add(std::function<void()> cancel, Registration* registration);

  // Cancels every registered call, then waits until each is deregistered.
  void CancelAllAndWait();

 private:
  void Remove(uint64_t id);

  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::function<void()>> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_IN_FLIGHT_FETCHES_H_
