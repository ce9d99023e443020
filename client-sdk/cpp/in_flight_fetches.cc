#include "client-sdk/cpp/in_flight_fetches.h"

#include <utility>
#include <vector>

namespace fetchpool {
namespace client {

InFlightFetches::Registration::~Registration() {
  if (owner_ != nullptr) owner_->Remove(id_);
}

void InFlightFetches::Add(std::weak_ptr<grpc::ClientContext> context, Registration* registration) {
  absl::MutexLock lock(&mu_);
  registration->owner_ = shared_from_this();
  registration->id_ = next_id_++;
  calls_.emplace(registration->id_, std::move(context));
}

void InFlightFetches::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  calls_.erase(id);
}

void InFlightFetches::CancelAllAndWait() {
  {
    std::vector<std::weak_ptr<grpc::ClientContext>> to_cancel;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, context] : calls_) to_cancel.push_back(context);
    }
    // Unlocked: the reference taken here may turn out to be the state's
    // last, and destroying the state deregisters it.
    for (const auto& weak : to_cancel) {
      if (auto context = weak.lock()) context->TryCancel();
    }
  }
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_map<uint64_t, std::weak_ptr<grpc::ClientContext>>* calls) { return calls->empty(); },
      &calls_));
}

}  // namespace client
}  // namespace fetchpool
