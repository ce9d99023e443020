#ifndef FETCHPOOL_ENGINE_TIME_WAIT_COUNTER_H_
#define FETCHPOOL_ENGINE_TIME_WAIT_COUNTER_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace fetchpool {

// The kernel's count of this machine's TCP sockets in TIME_WAIT, by remote
// address ("127.0.0.1:8080", "[::1]:443"), read with one sock_diag netlink
// dump (what `ss -tan state time-wait` shows). Every TIME_WAIT socket on
// the machine is counted, whoever owned it: the per-pool figure is an upper
// bound for fetchpool's share, exact when fetchpool is the only client of
// that origin here (the usual case in a pod).
absl::StatusOr<absl::flat_hash_map<std::string, uint32_t>> CountTimeWaitByRemote();

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_TIME_WAIT_COUNTER_H_
