#include "client-sdk/cpp/in_flight_fetches.h"

#include <utility>
#include <vector>

namespace fetchpool {

InFlightFetches::Registration::~Registration() {
  if (owner_ != nullptr) owner_->Remove(id_);
}

void InFlightFetches::Add(std::function<void()> cancel, Registration* registration) {
  absl::MutexLock lock(&mu_);
  registration->owner_ = shared_from_this();
  registration->id_ = next_id_++;
  calls_.emplace(registration->id_, std::move(cancel));
}

void InFlightFetches::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  calls_.erase(id);
}

void InFlightFetches::CancelAllAndWait() {
  {
    std::vector<std::function<void()>> to_cancel;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, cancel] : calls_) to_cancel.push_back(cancel);
    }
    // Unlocked: the reference taken here may turn out to be the state's
    // last, and destroying the state deregisters it.
    for (const auto& cancel : to_cancel) cancel();
  }
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_map<uint64_t, std::function<void()>>* calls) { return calls->empty(); },
      &calls_));
}

}  // namespace fetchpool
