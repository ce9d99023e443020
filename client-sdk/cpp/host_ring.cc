// TEMPORARY: see host_ring.h.
#include "client-sdk/cpp/host_ring.h"

#include <algorithm>
#include <functional>

namespace fetchpool {

HostRing::HostRing(std::vector<std::string> members) : members_(std::move(members)) {
  std::sort(members_.begin(), members_.end());
}

const std::string* HostRing::Pick(absl::string_view pool_key,
                                  absl::FunctionRef<bool(const std::string&)> usable) const {
  if (members_.empty()) return nullptr;
  const size_t start = std::hash<std::string>()(std::string(pool_key)) % members_.size();
  for (size_t i = 0; i < members_.size(); ++i) {
    const std::string& member = members_[(start + i) % members_.size()];
    if (usable(member)) return &member;
  }
  return nullptr;
}

}  // namespace fetchpool
