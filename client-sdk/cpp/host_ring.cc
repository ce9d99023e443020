#include "client-sdk/cpp/host_ring.h"

#include <openssl/sha.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace fetchpool {

uint64_t HostRing::PointOf(absl::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  uint64_t point = 0;
  for (int i = 0; i < 8; ++i) point = (point << 8) | digest[i];
  return point;
}

HostRing::HostRing(std::vector<std::string> members) : members_(std::move(members)) {
  std::sort(members_.begin(), members_.end());
  members_.erase(std::unique(members_.begin(), members_.end()), members_.end());
  points_.reserve(members_.size() * kPointsPerMember);
  for (uint32_t m = 0; m < members_.size(); ++m) {
    for (int i = 0; i < kPointsPerMember; ++i) {
      points_.emplace_back(PointOf(absl::StrCat(members_[m], "#", i)), m);
    }
  }
  std::sort(points_.begin(), points_.end());
}

const std::string* HostRing::Pick(absl::string_view pool_key) const {
  return Pick(pool_key, [](const std::string&) { return true; });
}

const std::string* HostRing::Pick(absl::string_view pool_key,
                                  absl::FunctionRef<bool(const std::string&)> usable) const {
  if (points_.empty()) return nullptr;
  const uint64_t key_point = PointOf(pool_key);
  const auto first = std::lower_bound(points_.begin(), points_.end(), std::make_pair(key_point, uint32_t{0}));
  size_t start = static_cast<size_t>(first - points_.begin());
  // Ask about each member once: a down member has 256 points on the way.
  enum : char { kUnknown, kYes, kNo };
  std::vector<char> verdict(members_.size(), kUnknown);
  size_t members_refused = 0;
  for (size_t step = 0; step < points_.size() && members_refused < members_.size(); ++step) {
    const uint32_t m = points_[(start + step) % points_.size()].second;
    if (verdict[m] == kUnknown) {
      verdict[m] = usable(members_[m]) ? kYes : kNo;
      if (verdict[m] == kNo) ++members_refused;
    }
    if (verdict[m] == kYes) return &members_[m];
  }
  return nullptr;
}

}  // namespace fetchpool
