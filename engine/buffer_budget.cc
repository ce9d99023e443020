#include "engine/buffer_budget.h"

namespace fetchpool {

bool BufferBudget::TryReserve(uint64_t bytes) {
  const uint64_t limit = this->limit();  // one reading, though it may change (SetLimit)
  if (limit == 0) {
    used_.fetch_add(bytes, std::memory_order_relaxed);
    return true;
  }
  uint64_t held = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit || held > limit - bytes) return false;
  } while (!used_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
  return true;
}

void BufferBudget::Release(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

bool BufferBudget::Exhausted(uint64_t bytes) const {
  const uint64_t limit = this->limit();
  if (limit == 0) return false;
  const uint64_t held = used();
  return held >= limit || limit - held < bytes;
}

bool BufferReservation::GrowTo(uint64_t total) {
  if (budget_ == nullptr || total <= bytes_) return true;
  if (!budget_->TryReserve(total - bytes_)) return false;
  bytes_ = total;
  return true;
}

void BufferReservation::Reset() {
  if (budget_ != nullptr && bytes_ != 0) budget_->Release(bytes_);
  bytes_ = 0;
}

}  // namespace fetchpool
