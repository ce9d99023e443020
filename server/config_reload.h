#ifndef FETCHPOOL_SERVER_CONFIG_RELOAD_H_
#define FETCHPOOL_SERVER_CONFIG_RELOAD_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "server/server_config.h"

namespace fetchpool {

// The settings fetchpoold reads only at start, by name: the listening
// sockets and their TLS, gRPC's channel arguments, the service's fixed
// books (per-caller and per-stream caps, the Stats audience) and the event
// loops. A reload that changes one is refused whole, naming them, so that
// what runs is always exactly one config file's content. (The engine
// refuses its own: event_loops and the TLS settings toward origins.)
std::vector<std::string> RestartOnlyChanges(const ServerConfig& running, const ServerConfig& next);

// fetchpool_config_reloads_total{result="ok"|"rejected"}. Any thread.
class ConfigReloadCounts {
 public:
  void Count(bool ok) { (ok ? ok_ : rejected_).fetch_add(1, std::memory_order_relaxed); }
  uint64_t ok() const { return ok_.load(std::memory_order_relaxed); }
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_CONFIG_RELOAD_H_
