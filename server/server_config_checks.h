#ifndef FETCHPOOL_SERVER_SERVER_CONFIG_CHECKS_H_
#define FETCHPOOL_SERVER_SERVER_CONFIG_CHECKS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/optional.h"
#include "server/server_config.h"

namespace fetchpool {

// The checks a merged ServerConfig must pass (server_config.h declares
// ValidateServerConfig and TlsWarnings, defined with these in
// server_config_checks.cc); kept apart from the reading and merging of
// the layers in server_config.cc.

// The first thing wrong with a config; `host` is empty for a service-wide
// setting, else the pool key whose settings are wrong.
struct ConfigProblem {
  std::string host;
  absl::Status status;
};

// Service-wide settings first, then each host in pool-key order, so the same
// bad config always gives the same message.
absl::optional<ConfigProblem> FindConfigProblem(const ServerConfig& config);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_SERVER_CONFIG_CHECKS_H_
