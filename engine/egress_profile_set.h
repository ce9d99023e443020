#ifndef FETCHPOOL_ENGINE_EGRESS_PROFILE_SET_H_
#define FETCHPOOL_ENGINE_EGRESS_PROFILE_SET_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/egress_profile.h"
#include "engine/engine_config.h"

namespace fetchpool {

// Every profile of a running engine and which caller gets which. Built
// once at start, read-only after: any thread.
class EgressProfileSet {
 public:
  inline static const char kDefault[] = "default";

  // The `default` profile: allow_cidrs, deny_cidrs, deny_private_networks,
  // allow_hosts and deny_hosts of `config`, plus the other fields of a
  // profile named "default" in config.profiles if there is one (which may
  // not set addresses or host patterns: they have one place, the flags).
  // Every binding must name a profile. INVALID_ARGUMENT naming the problem.
  static absl::StatusOr<EgressProfileSet> Create(const EngineConfig& config);

  // The profile a fetch runs under: the caller's own (its binding, or
  // `default`), or `requested` when set, known and Narrows the caller's
  // own; PERMISSION_DENIED / PROFILE_DENIED otherwise.
  absl::StatusOr<std::shared_ptr<const EgressProfile>> Resolve(
      const std::string& caller, const std::string& requested) const;

  const EgressProfile& default_profile() const { return *by_name_.at(kDefault); }

 private:
  absl::flat_hash_map<std::string, std::shared_ptr<const EgressProfile>> by_name_;
  absl::flat_hash_map<std::string, std::shared_ptr<const EgressProfile>> by_caller_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_EGRESS_PROFILE_SET_H_
