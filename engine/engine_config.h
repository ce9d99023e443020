#ifndef FETCHPOOL_ENGINE_ENGINE_CONFIG_H_
#define FETCHPOOL_ENGINE_ENGINE_CONFIG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/egress_profile_settings.h"
#include "engine/fetch_config.h"

namespace fetchpool {

struct EngineConfig {
  HostConfig defaults;
  // Per-host overrides, keyed by pool key ("http://api:80").
  absl::flat_hash_map<std::string, HostConfig> per_host;
  std::vector<std::string> allow_cidrs;
  // An empty pool (no connections, no waiters) is dropped after this long.
  absl::Duration evict_empty_pool_after = absl::Minutes(2);
  // Most pools kept at once, over every loop; a fetch to a new host beyond
  // it is refused (RESOURCE_EXHAUSTED / QUEUE_FULL) until empty pools are
  // evicted.
  uint32_t max_pools = 100000;
  // Event-loop threads. Each host's pool lives on one of them, chosen by a
  // hash of its pool key. 0: as many as the CPUs this process may use
  // (UsableCpuCount()).
  uint32_t event_loops = 0;
  // Notable engine events (pool created, pool evicted), for the service's
  // structured log; called on a loop thread, from any loop. Unset: not reported.
  std::function<void(const std::string& event,
                     const std::vector<std::pair<std::string, std::string>>& fields)>
      log_event;

  // ---- Egress profiles (engine/egress_profile.h) ----
  // The `default` profile, which `anonymous` and every caller without a
  // binding get, takes its addresses and host patterns from allow_cidrs
  // (above) and these service-wide settings (flags of the same names).
  std::vector<std::string> deny_cidrs;
  bool deny_private_networks = false;
  std::vector<std::string> allow_hosts;
  std::vector<std::string> deny_hosts;
  // Named profiles from the config file. One may be named "default": it
  // sets the default profile's other dimensions (methods, allow_host_header,
  // allow_list_only, credential_headers), not its addresses or host
  // patterns, which have one place only (the settings above).
  std::vector<EgressProfileSettings> profiles;
  // Caller name -> profile name; callers not listed get "default".
  absl::flat_hash_map<std::string, std::string> caller_profiles;
  // ---- issue 11: greedy callers are bounded ----
  // Response bytes buffered at once over every fetch, from the first body
  // byte until the answer is written to the caller (engine/buffer_budget.h);
  // a fetch that would exceed it fails with BUFFER_BUDGET_EXCEEDED. 1 GiB:
  // 16 of the largest answers (max_response_bytes, 64 MiB) or a thousand
  // 1 MB ones at once, small beside the memory of a host that runs a pool
  // for 100,000 hosts, and well under what would get the process killed.
  // 0: unlimited.
  uint64_t max_buffered_bytes = uint64_t{1} << 30;
  // New host pools one caller (FetchSpec::caller) may create per minute
  // (engine/caller_pool_quota.h); past it, CALLER_QUOTA_EXCEEDED. 600 (10 a
  // second) is far above what a caller with a fixed set of upstreams needs,
  // yet keeps one caller at about 1,300 pools (quota x eviction delay), far
  // from max_pools. 0: unlimited.
  uint32_t max_new_pools_per_caller_per_minute = 600;

  const HostConfig& ForHost(const std::string& pool_key) const;
};

// The most loops an engine runs (ids carry the loop in their low byte).
inline constexpr uint32_t kMaxEventLoops = 256;

// INVALID_ARGUMENT naming the bad setting: the defaults, a per_host block
// (prefixed with its pool key), or event_loops. The egress profiles are
// checked where they are built (EgressProfileSet::Create).
absl::Status ValidateEngineConfig(const EngineConfig& config);

// What Engine::Reconfigure cannot apply to a running engine: INVALID_ARGUMENT
// naming the first such setting that `next` changes, with "restart" in the
// message. `running_loops`: the loops the engine runs.
// - event_loops (each host's pool lives on the loop its key hashes to): an
//   unchanged value, or one that asks for the loops running, is accepted;
// - TLS toward origins (ca_file, tls_client_cert_file, tls_client_key_file,
//   insecure_skip_verify), of the defaults or of any host: each loop builds
//   its trust stores once, at start (LoopTls).
absl::Status CheckLiveChange(const EngineConfig& running, const EngineConfig& next,
                             uint32_t running_loops);

// CPUs this process may run on: its affinity mask, lowered by a cgroup v2
// CPU quota (cpu.max) when one is set, at least 1.
uint32_t UsableCpuCount();

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_ENGINE_CONFIG_H_
