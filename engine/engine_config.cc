#include "engine/engine_config.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace fetchpool {
namespace {

// A cgroup v2 quota: "max 100000" (none) or "150000 100000" (1.5 CPUs).
// Rounded up: a 1.5-CPU pod can keep two loops busy part of the time.
uint32_t CpuQuotaLimit() {
  std::ifstream file("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (!(file >> quota >> period) || quota == "max" || period <= 0) return 0;
  const double cpus = std::atof(quota.c_str()) / period;
  return cpus > 0 ? static_cast<uint32_t>(std::ceil(cpus)) : 0;
}

absl::Status RestartOnly(absl::string_view setting, absl::string_view detail) {
  return absl::InvalidArgumentError(
      absl::StrCat(setting, " cannot change while fetchpool runs (", detail,
                   "); restart fetchpool to apply it. Nothing was changed"));
}

// The first TLS setting that differs, or null.
const char* ChangedTlsSetting(const FetchConfig& a, const FetchConfig& b) {
  if (a.ca_file != b.ca_file) return "ca_file";
  if (a.tls_client_cert_file != b.tls_client_cert_file) return "tls_client_cert_file";
  if (a.tls_client_key_file != b.tls_client_key_file) return "tls_client_key_file";
  if (a.insecure_skip_verify != b.insecure_skip_verify) return "insecure_skip_verify";
  return nullptr;
}

}  // namespace

absl::Status ValidateEngineConfig(const EngineConfig& config) {
  absl::Status valid = config.defaults.Validate();
  if (!valid.ok()) return valid;
  for (const auto& [key, host] : config.per_host) {
    valid = host.Validate();
    if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(key, ": ", valid.message()));
  }
  if (config.event_loops > kMaxEventLoops) {
    return absl::InvalidArgumentError(absl::StrCat("event_loops is ", config.event_loops,
                                                   "; it must be at most ", kMaxEventLoops));
  }
  return absl::OkStatus();
}

absl::Status CheckLiveChange(const EngineConfig& running, const EngineConfig& next,
                             uint32_t running_loops) {
  if (next.event_loops != running.event_loops && next.event_loops != running_loops) {
    return RestartOnly("event_loops",
                       absl::StrCat(running_loops, " loops run, the new config asks for ",
                                    next.event_loops == 0 ? "one per usable CPU"
                                                          : absl::StrCat(next.event_loops)));
  }
  if (const char* changed = ChangedTlsSetting(running.defaults.fetch, next.defaults.fetch)) {
    return RestartOnly(changed, "the default for every host; TLS trust is set up at start");
  }
  // A host added to or removed from per_host changes from or to the
  // defaults, which are equal by now: only its own TLS settings can differ.
  auto check_host = [&](const std::string& key) -> absl::Status {
    if (const char* changed =
            ChangedTlsSetting(running.ForHost(key).fetch, next.ForHost(key).fetch)) {
      return RestartOnly(absl::StrCat(changed, " of ", key),
                         "TLS trust is set up at start");
    }
    return absl::OkStatus();
  };
  for (const auto& [key, host] : next.per_host) {
    absl::Status s = check_host(key);
    if (!s.ok()) return s;
  }
  for (const auto& [key, host] : running.per_host) {
    absl::Status s = check_host(key);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

const HostConfig& EngineConfig::ForHost(const std::string& pool_key) const {
  auto it = per_host.find(pool_key);
  return it == per_host.end() ? defaults : it->second;
}

uint32_t UsableCpuCount() {
  uint32_t cpus = 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    cpus = std::max(1, CPU_COUNT(&set));
  }
  const uint32_t quota = CpuQuotaLimit();
  if (quota > 0) cpus = std::min(cpus, quota);
  return std::clamp<uint32_t>(cpus, 1, kMaxEventLoops);
}

}  // namespace fetchpool
