#ifndef FETCHPOOL_ENGINE_BUFFER_BUDGET_H_
#define FETCHPOOL_ENGINE_BUFFER_BUDGET_H_

#include <atomic>
#include <cstdint>
#include <memory>

namespace fetchpool {

// The engine-wide budget of buffered response bytes (--max_buffered_bytes).
// Response bodies are held in memory from the first byte until the answer
// has been written to the caller; without a bound, many large responses at
// once grow the process until the kernel kills it. Every fetch reserves
// what it buffers here before it buffers it; a fetch that cannot is failed
// (BUFFER_BUDGET_EXCEEDED), never queued: waiting for room would hold a
// connection and the caller's deadline for an unknown time.
//
// Thread story: lock-free (atomics). Reserved on loop threads (body
// callbacks), released wherever the answer ends: a gRPC thread after the
// write, or a loop thread for an answer that is dropped.
class BufferBudget {
 public:
  // `limit` bytes; 0: unlimited (only counted).
  explicit BufferBudget(uint64_t limit) : limit_(limit) {}
  BufferBudget(const BufferBudget&) = delete;
  BufferBudget& operator=(const BufferBudget&) = delete;

  // Takes `bytes` if they fit under the limit, all or nothing.
  bool TryReserve(uint64_t bytes);
  void Release(uint64_t bytes);
  // True when less than `bytes` is left (a new fetch is refused up front).
  bool Exhausted(uint64_t bytes) const;

  uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  // A new limit (Engine::Reconfigure), any thread. Bytes held over a lowered
  // limit stay held; new reservations wait until the total is below it.
  void SetLimit(uint64_t limit) { limit_.store(limit, std::memory_order_relaxed); }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  // Reservations refused since start (fetches failed for the budget).
  uint64_t refused_total() const { return refused_.load(std::memory_order_relaxed); }
  void CountRefusal() { refused_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> limit_;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> refused_{0};
};

// What one answer holds of a BufferBudget: released when destroyed, so a
// reservation cannot leak whichever way the answer ends (written, dropped,
// replaced by an error, or a retry's fresh result). It travels with the
// FetchResult from the body callback to the written answer. Move-only; one
// owner at a time, so it needs no lock.
class BufferReservation {
 public:
  BufferReservation() = default;
  explicit BufferReservation(std::shared_ptr<BufferBudget> budget) : budget_(std::move(budget)) {}
  ~BufferReservation() { Reset(); }
  BufferReservation(BufferReservation&& other) noexcept
      : budget_(std::move(other.budget_)), bytes_(other.bytes_) {
    other.bytes_ = 0;
  }
  BufferReservation& operator=(BufferReservation&& other) noexcept {
    if (this != &other) {
      Reset();
      budget_ = std::move(other.budget_);
      bytes_ = other.bytes_;
      other.bytes_ = 0;
    }
    return *this;
  }
  BufferReservation(const BufferReservation&) = delete;
  BufferReservation& operator=(const BufferReservation&) = delete;

  // Holds `total` bytes in all, reserving the difference; false (and
  // unchanged) when the budget cannot give it. Without a budget: true.
  bool GrowTo(uint64_t total);
  // Gives everything back (the budget stays attached).
  void Reset();
  uint64_t bytes() const { return bytes_; }
  bool attached() const { return budget_ != nullptr; }

 private:
  // Shared so that an answer still queued in gRPC when the engine is
  // destroyed releases into a live counter.
  std::shared_ptr<BufferBudget> budget_;
  uint64_t bytes_ = 0;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_BUFFER_BUDGET_H_
