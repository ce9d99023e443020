#include "server/egress_profile_config.h"

#include <map>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/egress_profile_set.h"

namespace fetchpool {
namespace {

template <typename Repeated>
std::vector<std::string> ToVector(const Repeated& values) {
  return std::vector<std::string>(values.begin(), values.end());
}

absl::Status At(const std::string& where, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
}

}  // namespace

absl::Status ReadEgressProfiles(const v1::ServerConfigFile& file, const ConfigLineFn& line,
                                EngineConfig* engine,
                                std::function<void(const std::string&, const std::string&)> set) {
  if (file.deny_cidrs_size() > 0) {
    engine->deny_cidrs = ToVector(file.deny_cidrs());
    set("deny_cidrs", line("deny_cidrs", 0));
  }
  if (file.has_deny_private_networks()) {
    engine->deny_private_networks = file.deny_private_networks();
    set("deny_private_networks", line("deny_private_networks", -1));
  }
  if (file.allow_hosts_size() > 0) {
    engine->allow_hosts = ToVector(file.allow_hosts());
    set("allow_hosts", line("allow_hosts", 0));
  }
  if (file.deny_hosts_size() > 0) {
    engine->deny_hosts = ToVector(file.deny_hosts());
    set("deny_hosts", line("deny_hosts", 0));
  }
  std::map<std::string, std::string> seen;  // profile name -> where
  for (int i = 0; i < file.profile_size(); ++i) {
    const v1::EgressProfileConfig& p = file.profile(i);
    const std::string where = line("profile", i);
    if (p.name().empty()) {
      return At(where, "profile: the block has no name; write e.g. name: \"internal-apis\"");
    }
    if (auto [it, inserted] = seen.emplace(p.name(), where); !inserted) {
      return At(where, absl::StrCat("profile \"", absl::CHexEscape(p.name()),
                                    "\" is already defined at ", it->second, "; merge the two"));
    }
    EgressProfileSettings s;
    s.name = p.name();
    s.allow_cidrs = ToVector(p.allow_cidrs());
    s.deny_cidrs = ToVector(p.deny_cidrs());
    s.deny_private_networks = p.deny_private_networks();
    s.allow_hosts = ToVector(p.allow_hosts());
    s.deny_hosts = ToVector(p.deny_hosts());
    s.allow_list_only = p.allow_list_only();
    s.methods = ToVector(p.methods());
    s.allow_host_header = p.allow_host_header();
    s.credential_headers = ToVector(p.credential_headers());
    engine->profiles.push_back(std::move(s));
  }
  if (file.profile_size() > 0) set("profile", line("profile", 0));
  std::map<std::string, std::string> bound;  // caller -> where
  for (int i = 0; i < file.caller_size(); ++i) {
    const v1::CallerBinding& c = file.caller(i);
    const std::string where = line("caller", i);
    if (c.name().empty() || c.profile().empty()) {
      return At(where, "caller: write both name and profile, e.g. "
                       "caller { name: \"billing\" profile: \"internal-apis\" }");
    }
    if (auto [it, inserted] = bound.emplace(c.name(), where); !inserted) {
      return At(where, absl::StrCat("caller \"", absl::CHexEscape(c.name()),
                                    "\" is already bound at ", it->second,
                                    "; a caller has one profile"));
    }
    engine->caller_profiles[c.name()] = c.profile();
  }
  if (file.caller_size() > 0) set("caller", line("caller", 0));
  return absl::OkStatus();
}

bool CopyEgressSetting(absl::string_view name, const EngineConfig& from, EngineConfig* to) {
  if (name == "deny_cidrs") {
    to->deny_cidrs = from.deny_cidrs;
  } else if (name == "deny_private_networks") {
    to->deny_private_networks = from.deny_private_networks;
  } else if (name == "allow_hosts") {
    to->allow_hosts = from.allow_hosts;
  } else if (name == "deny_hosts") {
    to->deny_hosts = from.deny_hosts;
  } else if (name == "profile") {
    to->profiles = from.profiles;
  } else if (name == "caller") {
    to->caller_profiles = from.caller_profiles;
  } else {
    return false;
  }
  return true;
}

absl::Status ValidateEgressProfiles(const EngineConfig& engine) {
  return EgressProfileSet::Create(engine).status();
}

std::string DescribeDefaultProfile(const EngineConfig& engine) {
  auto list = [](const std::vector<std::string>& v) {
    return v.empty() ? std::string("-") : absl::StrJoin(v, ",");
  };
  return absl::StrCat("default egress profile: allow_cidrs=", list(engine.allow_cidrs),
                      " deny_cidrs=", list(engine.deny_cidrs),
                      " deny_private_networks=", engine.deny_private_networks ? "true" : "false",
                      " allow_hosts=", list(engine.allow_hosts),
                      " deny_hosts=", list(engine.deny_hosts), "; ", engine.profiles.size(),
                      " named profile(s), ", engine.caller_profiles.size(), " caller binding(s)");
}

}  // namespace fetchpool
