#ifndef FETCHPOOL_ENGINE_SELF_ADDRESSES_H_
#define FETCHPOOL_ENGINE_SELF_ADDRESSES_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace fetchpool {

// fetchpool's own listening addresses (gRPC, metrics): a fetch must never
// reach them, whatever a profile allows (a caller could otherwise call the
// service through itself, or read its metrics). The server learns its
// ports only after it has bound them, so they are set after the engine
// starts; thread-safe (read on every new connection, set once or twice).
class SelfAddresses {
 public:
  // `listen`: "host:port" as bound, e.g. "0.0.0.0:50051", "[::]:9464",
  // "127.0.0.1:41234". A wildcard host (0.0.0.0, ::, empty) or a name means
  // that port on loopback and on every address of every local interface
  // (getifaddrs, read now). Replaces what was set before.
  // INVALID_ARGUMENT for an entry that is not host:port.
  absl::Status Set(const std::vector<std::string>& listen);

  // True when `addr` (IPv4, IPv6 or IPv4-mapped) is one of them.
  bool Contains(const sockaddr* addr) const;
  std::string Explain(const sockaddr* addr) const;

 private:
  struct Entry {
    uint8_t addr[16] = {};  // IPv6, IPv4 as ::ffff:a.b.c.d
    bool any_loopback = false;  // 127.0.0.0/8 and ::1
    uint16_t port = 0;
    std::string listen;
  };
  const Entry* Find(const sockaddr* addr) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_SELF_ADDRESSES_H_
