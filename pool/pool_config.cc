#include "pool/pool_config.h"

#include "absl/strings/str_cat.h"

namespace fetchpool {
namespace {

constexpr absl::Duration kMinSaneDuration = absl::Milliseconds(1);

}  // namespace

absl::Status CheckDuration(const char* name, absl::Duration d) {
  if (d < kMinSaneDuration) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " is ", absl::FormatDuration(d),
                     "; it must be at least 1ms (write units: 250ms, 30s)"));
  }
  if (d > absl::Hours(24)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " is ", absl::FormatDuration(d), "; it must be at most 24h"));
  }
  return absl::OkStatus();
}

absl::Status HostPoolConfig::Validate() const {
  if (max_connections == 0 || max_connections > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_connections_per_host is ", max_connections, "; it must be in [1, 100000]"));
  }
  if (max_idle_connections > max_connections) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_idle_connections_per_host is ", max_idle_connections,
        "; it cannot exceed max_connections_per_host (", max_connections, ")"));
  }
  if (max_waiters > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_waiters_per_host is ", max_waiters, "; it must be at most 1000000"));
  }
  if (max_streams_per_connection == 0 || max_streams_per_connection > 100000) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_streams_per_connection is ", max_streams_per_connection,
                     "; it must be in [1, 100000]"));
  }
  for (auto [name, d] : {std::pair{"wait_timeout", wait_timeout},
                         std::pair{"idle_timeout", idle_timeout}}) {
    absl::Status s = CheckDuration(name, d);
    if (!s.ok()) return s;
  }
  if (max_connection_lifetime != absl::ZeroDuration()) {
    absl::Status s = CheckDuration("max_connection_lifetime", max_connection_lifetime);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace fetchpool
