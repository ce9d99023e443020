#ifndef FETCHPOOL_SERVER_EGRESS_PROFILE_CONFIG_H_
#define FETCHPOOL_SERVER_EGRESS_PROFILE_CONFIG_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/engine_config.h"
#include "fetchpool/v1/config.pb.h"

namespace fetchpool {

// "fetchpool.conf:12" for the index-th value of a ServerConfigFile field.
using ConfigLineFn = std::function<std::string(absl::string_view field, int index)>;

// Reads the config file's `profile` and `caller` blocks and its top-level
// default-profile settings (deny_cidrs, deny_private_networks, allow_hosts,
// deny_hosts) into `engine`; `set` receives the name of each setting the
// file gives (the flag names, plus "profile" and "caller") and where.
// Structural checks only (names present and unique); what the values mean
// is checked by ValidateEgressProfiles.
absl::Status ReadEgressProfiles(const v1::ServerConfigFile& file, const ConfigLineFn& line,
                                EngineConfig* engine,
                                std::function<void(const std::string&, const std::string&)> set);

// Copies the egress setting `name` (a flag name, "profile" or "caller");
// false when `name` is not one of them.
bool CopyEgressSetting(absl::string_view name, const EngineConfig& from, EngineConfig* to);

// Builds every profile and binding (EgressProfileSet::Create) and returns
// the first problem, naming the profile or caller.
absl::Status ValidateEgressProfiles(const EngineConfig& engine);

// One line for the start-up log: the default profile's settings.
std::string DescribeDefaultProfile(const EngineConfig& engine);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_EGRESS_PROFILE_CONFIG_H_
