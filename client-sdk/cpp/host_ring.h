#ifndef FETCHPOOL_CLIENT_SDK_CPP_HOST_RING_H_
#define FETCHPOOL_CLIENT_SDK_CPP_HOST_RING_H_

// TEMPORARY stand-in written by the C++ SDK helper so the client compiles;
// helper AFF's fetchpool-ring-v1 implementation replaces this file and
// host_ring.cc whole. It picks by a plain hash, not by the ring.

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace fetchpool {

class HostRing {
 public:
  explicit HostRing(std::vector<std::string> members);
  const std::string* Pick(absl::string_view pool_key,
                          absl::FunctionRef<bool(const std::string&)> usable) const;
  const std::vector<std::string>& members() const { return members_; }

 private:
  std::vector<std::string> members_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_HOST_RING_H_
