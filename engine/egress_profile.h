#ifndef FETCHPOOL_ENGINE_EGRESS_PROFILE_H_
#define FETCHPOOL_ENGINE_EGRESS_PROFILE_H_

#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/destination_policy.h"
#include "engine/egress_profile_settings.h"
#include "engine/fetch_types.h"

namespace fetchpool {

// A URL host pattern: "api.example.com" (that host only) or
// "*.example.com" (any name below example.com: a.example.com,
// b.a.example.com, but NOT example.com itself: write both to mean both).
// Case-insensitive; a trailing dot is ignored on both sides. IP literals
// are written as they appear in the URL without brackets ("10.1.2.3",
// "::1") and match textually.
struct HostPattern {
  bool wildcard = false;
  std::string name;  // lower case, no trailing dot; for "*.example.com": "example.com"

  static absl::StatusOr<HostPattern> Parse(absl::string_view text);
  bool Matches(absl::string_view host) const;
  // Every host this pattern matches, `outer` matches too.
  bool Within(const HostPattern& outer) const;
  std::string ToString() const;
};

// What one caller may reach (issue 11, part 2): destination addresses
// (DestinationPolicy), URL host patterns, methods, and whether it may set
// the Host header. Immutable once built; shared by every fetch that uses
// it (shared_ptr<const EgressProfile>), so any thread may read it.
//
// Host patterns: a host matching an allow pattern is allowed even when a
// deny pattern matches too (allow_hosts name the exceptions to deny_hosts);
// otherwise a host matching a deny pattern is refused. allow_list_only: a
// host must match an allow pattern, or be an IP literal inside an
// allow_cidrs entry; the addresses it resolves to still go through the
// destination rules (allow_cidrs open denied ranges, they do not restrict).
class EgressProfile {
 public:
  static absl::StatusOr<std::shared_ptr<const EgressProfile>> Create(
      const EgressProfileSettings& settings);

  const std::string& name() const { return name_; }

  // Before any connection work: the method (INVALID_ARGUMENT /
  // METHOD_DENIED), a Host header when not allowed (INVALID_ARGUMENT /
  // INVALID_HEADER) and the URL host (PERMISSION_DENIED / DESTINATION_DENIED).
  absl::Status CheckRequest(const FetchSpec& spec) const;
  // The host patterns alone, for a redirect hop; `host` as in the URL
  // (brackets around IPv6 are ignored).
  absl::Status CheckHost(absl::string_view host) const;

  // The address a connection goes to (after DNS).
  bool AllowsAddress(const sockaddr* addr) const { return destinations_.Allows(addr); }
  std::string Explain(const sockaddr* addr) const;

  // Extra headers dropped on a cross-origin redirect, lower case (besides
  // Authorization, Cookie and Proxy-Authorization).
  const std::vector<std::string>& credential_headers() const { return credential_headers_; }
  const DestinationPolicy& destinations() const { return destinations_; }
  bool allow_host_header() const { return allow_host_header_; }
  bool allow_list_only() const { return allow_list_only_; }
  bool AllowsMethod(absl::string_view method) const;
  // Empty: every method except TRACE and CONNECT.
  const std::vector<std::string>& methods() const { return methods_; }
  const std::vector<HostPattern>& allow_hosts() const { return allow_hosts_; }
  const std::vector<HostPattern>& deny_hosts() const { return deny_hosts_; }

 private:
  EgressProfile() = default;

  std::string name_;
  DestinationPolicy destinations_;
  std::vector<HostPattern> allow_hosts_;
  std::vector<HostPattern> deny_hosts_;
  bool allow_list_only_ = false;
  std::vector<std::string> methods_;
  bool allow_host_header_ = false;
  std::vector<std::string> credential_headers_;
};

// True when `stricter` allows nothing `looser` refuses, dimension by
// dimension: its methods are a subset; allow_host_header, and
// deny_private_networks / allow_list_only of `looser` hold in `stricter`
// too; every deny CIDR of `looser` lies inside one of `stricter`'s; every
// allow CIDR of `stricter` lies inside one of `looser`'s; every deny host
// pattern of `looser` lies inside one of `stricter`'s; every allow host
// pattern of `stricter` inside one of `looser`'s; and it drops at least
// `looser`'s credential headers on redirects. A caller may ask for a
// profile that Narrows its own.
bool Narrows(const EgressProfile& stricter, const EgressProfile& looser);

// The host of a pool key ("http://api:80" -> "api", "http://[::1]:80" -> "::1").
std::string HostOfPoolKey(absl::string_view pool_key);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_EGRESS_PROFILE_H_
