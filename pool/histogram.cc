#include "pool/histogram.h"

#include <algorithm>

namespace fetchpool {

void LatencyHistogram::Record(absl::Duration d) {
  const double ms = std::max(0.0, absl::ToDoubleMilliseconds(d));
  const auto it = std::lower_bound(kUpperBoundsMs.begin(), kUpperBoundsMs.end(), ms);
  ++buckets_[static_cast<size_t>(it - kUpperBoundsMs.begin())];
  ++count_;
  sum_ms_ += ms;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ms_ += other.sum_ms_;
}

double LatencyHistogram::PercentileMs(double p) const {
  if (count_ == 0) return 0;
  const double rank = p * static_cast<double>(count_);
  double seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    if (buckets_[i] == 0) continue;
    const double lower = i == 0 ? 0 : kUpperBoundsMs[i - 1];
    // The overflow bucket has no upper bound: report its lower bound.
    if (i == kBuckets - 1) return lower;
    const double upper = kUpperBoundsMs[i];
    if (seen + static_cast<double>(buckets_[i]) >= rank) {
      const double within = (rank - seen) / static_cast<double>(buckets_[i]);
      return lower + (upper - lower) * std::clamp(within, 0.0, 1.0);
    }
    seen += static_cast<double>(buckets_[i]);
  }
  return kUpperBoundsMs.back();
}

}  // namespace fetchpool
