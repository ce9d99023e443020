#ifndef FETCHPOOL_SERVER_SERVER_FLAGS_H_
#define FETCHPOOL_SERVER_SERVER_FLAGS_H_

#include "absl/status/statusor.h"
#include "server/server_config.h"

namespace fetchpool {

// fetchpoold's flags (ABSL_FLAG, defined in server_flags.cc): --config plus
// one flag per setting, named like the config-file fields. Call after
// absl::ParseCommandLine. Reads the --config file if given and merges
// defaults < file < flags given on the command line (BuildServerConfig).
// INVALID_ARGUMENT naming the bad setting and where it was set.
// Also what a reload (SIGHUP, --watch_config) calls: the command line is
// the same, the file may have changed.
absl::StatusOr<ServerConfig> LoadServerConfigFromFlags();

// --config (empty: none) and --watch_config, which are not settings.
std::string ConfigFileFlag();
bool WatchConfigFlag();

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_SERVER_FLAGS_H_
