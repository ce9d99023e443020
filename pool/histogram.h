#ifndef FETCHPOOL_POOL_HISTOGRAM_H_
#define FETCHPOOL_POOL_HISTOGRAM_H_

#include <array>
#include <cstdint>

#include "absl/time/time.h"

namespace fetchpool {

// A fixed-bucket latency histogram: constant memory per pool, mergeable
// into totals, and the same buckets in Stats and in Prometheus.
class LatencyHistogram {
 public:
  // Upper bounds in milliseconds; one more bucket holds larger values.
  static constexpr std::array<double, 18> kUpperBoundsMs = {
      0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
  static constexpr size_t kBuckets = kUpperBoundsMs.size() + 1;

  void Record(absl::Duration d);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  double sum_ms() const { return sum_ms_; }
  const std::array<uint64_t, kBuckets>& bucket_counts() const { return buckets_; }
  // Estimated by linear interpolation inside the bucket holding the rank;
  // 0 when empty.
  double PercentileMs(double p) const;

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  double sum_ms_ = 0;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_POOL_HISTOGRAM_H_
