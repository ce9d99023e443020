#include "engine/fetch_config.h"

#include "engine/tls_setup.h"

namespace fetchpool {

absl::Status FetchConfig::Validate() const {
  if (max_response_bytes == 0) {
    return absl::InvalidArgumentError("max_response_bytes must be positive");
  }
  for (auto [name, d] : {std::pair{"connect_timeout", connect_timeout},
                         std::pair{"drain_timeout", drain_timeout}}) {
    absl::Status s = CheckDuration(name, d);
    if (!s.ok()) return s;
  }
  return CheckTlsFiles(*this);
}

absl::Status HostConfig::Validate() const {
  absl::Status s = pool.Validate();
  if (!s.ok()) return s;
  return fetch.Validate();
}

}  // namespace fetchpool
