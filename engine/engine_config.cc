#include "engine/engine_config.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

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

}  // namespace

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
