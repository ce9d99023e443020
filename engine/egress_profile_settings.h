#ifndef FETCHPOOL_ENGINE_EGRESS_PROFILE_SETTINGS_H_
#define FETCHPOOL_ENGINE_EGRESS_PROFILE_SETTINGS_H_

#include <string>
#include <vector>

namespace fetchpool {

// One egress profile as written in the config file (or, for `default`, by
// the service-wide flags): plain values, checked and built into an
// EgressProfile (engine/egress_profile.h) when the engine starts.
struct EgressProfileSettings {
  std::string name;
  // Destination addresses (after DNS); see DestinationPolicy for how allow
  // and deny entries combine.
  std::vector<std::string> allow_cidrs;
  std::vector<std::string> deny_cidrs;
  bool deny_private_networks = false;
  // URL host patterns: "api.example.com" or "*.example.com".
  std::vector<std::string> allow_hosts;
  std::vector<std::string> deny_hosts;
  bool allow_list_only = false;
  // HTTP methods allowed; empty: every method except TRACE and CONNECT.
  std::vector<std::string> methods;
  bool allow_host_header = false;
  // Extra request headers dropped on a cross-origin redirect, besides
  // Authorization, Cookie and Proxy-Authorization.
  std::vector<std::string> credential_headers;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_EGRESS_PROFILE_SETTINGS_H_
