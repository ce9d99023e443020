#ifndef FETCHPOOL_CLIENT_SDK_CPP_HOST_RING_H_
#define FETCHPOOL_CLIENT_SDK_CPP_HOST_RING_H_

// fetchpool-ring-v1 (client-sdk/README.md, "Host affinity"): the consistent
// hash that sends every fetch for one pool key to one fetchpoold replica.
// Every SDK with its own ring implements the same function and tests it
// against client-sdk/testdata/ring.tsv, so an origin lands on one replica
// whichever language calls it.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace fetchpool {

class HostRing {
 public:
  // Points each member puts on the ring (README: 256).
  static constexpr int kPointsPerMember = 256;

  // `members` are replica addresses, "ip:port" or "[ip]:port", in any order;
  // duplicates count once.
  explicit HostRing(std::vector<std::string> members);

  // The member fetchpool-ring-v1 picks for pool_key, skipping members for which
  // usable(member) is false; nullptr if none is usable or there are no members.
  // Skipping a member gives the same pick as a ring built without it, so a
  // replica that is down moves only the keys that were on it.
  const std::string* Pick(absl::string_view pool_key,
                          absl::FunctionRef<bool(const std::string&)> usable) const;
  const std::string* Pick(absl::string_view pool_key) const;

  // Sorted, without duplicates.
  const std::vector<std::string>& members() const { return members_; }

  // The first 8 bytes of SHA-256(text) as a big-endian number: a point on the ring.
  static uint64_t PointOf(absl::string_view text);

 private:
  std::vector<std::string> members_;
  // (point, index into members_), sorted; members_ is sorted, so of equal
  // points the member that sorts first comes first, as the README asks.
  std::vector<std::pair<uint64_t, uint32_t>> points_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_HOST_RING_H_
