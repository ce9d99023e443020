#include "engine/egress_profile_set.h"

#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/reason.h"

namespace fetchpool {

absl::StatusOr<EgressProfileSet> EgressProfileSet::Create(const EngineConfig& config) {
  EgressProfileSet set;
  EgressProfileSettings defaults;
  for (const EgressProfileSettings& s : config.profiles) {
    if (s.name != kDefault) continue;
    if (!s.allow_cidrs.empty() || !s.deny_cidrs.empty() || s.deny_private_networks ||
        !s.allow_hosts.empty() || !s.deny_hosts.empty()) {
      return absl::InvalidArgumentError(
          "egress profile \"default\": its addresses and host patterns are the service-wide "
          "settings allow_cidrs, deny_cidrs, deny_private_networks, allow_hosts and deny_hosts "
          "(flags or top-level config lines); the profile block may set only methods, "
          "allow_host_header, allow_list_only and credential_headers");
    }
    defaults = s;
  }
  defaults.name = kDefault;
  defaults.allow_cidrs = config.allow_cidrs;
  defaults.deny_cidrs = config.deny_cidrs;
  defaults.deny_private_networks = config.deny_private_networks;
  defaults.allow_hosts = config.allow_hosts;
  defaults.deny_hosts = config.deny_hosts;
  absl::StatusOr<std::shared_ptr<const EgressProfile>> built = EgressProfile::Create(defaults);
  if (!built.ok()) return built.status();
  set.by_name_[kDefault] = *built;
  for (const EgressProfileSettings& s : config.profiles) {
    if (s.name == kDefault) continue;
    if (s.name.empty()) return absl::InvalidArgumentError("an egress profile has no name");
    if (set.by_name_.contains(s.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("egress profile \"", absl::CHexEscape(s.name), "\" is defined twice"));
    }
    built = EgressProfile::Create(s);
    if (!built.ok()) return built.status();
    set.by_name_[s.name] = *built;
  }
  for (const auto& [caller, profile] : config.caller_profiles) {
    auto it = set.by_name_.find(profile);
    if (it == set.by_name_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("caller \"", absl::CHexEscape(caller), "\" is bound to egress profile \"",
                       absl::CHexEscape(profile), "\", which is not defined"));
    }
    set.by_caller_[caller] = it->second;
  }
  return set;
}

absl::StatusOr<std::shared_ptr<const EgressProfile>> EgressProfileSet::Resolve(
    const std::string& caller, const std::string& requested) const {
  auto bound = by_caller_.find(caller);
  const std::shared_ptr<const EgressProfile>& own =
      bound != by_caller_.end() ? bound->second : by_name_.at(kDefault);
  if (requested.empty() || requested == own->name()) return own;
  auto it = by_name_.find(requested);
  if (it == by_name_.end()) {
    std::vector<std::string> known;
    for (const auto& [name, profile] : by_name_) known.push_back(name);
    std::sort(known.begin(), known.end());
    return MakeError(Reason::kProfileDenied,
                     absl::StrCat("egress_profile \"", absl::CHexEscape(requested),
                                  "\" is not defined; known profiles: ",
                                  absl::StrJoin(known, ", ")));
  }
  if (!Narrows(*it->second, *own)) {
    return MakeError(Reason::kProfileDenied,
                     absl::StrCat("egress_profile \"", requested, "\" is not at least as strict "
                                  "as caller ", caller, "'s profile \"", own->name(),
                                  "\"; a caller may only narrow its own profile"));
  }
  return it->second;
}

}  // namespace fetchpool
