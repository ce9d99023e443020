#ifndef FETCHPOOL_ENGINE_DESTINATION_POLICY_H_
#define FETCHPOOL_ENGINE_DESTINATION_POLICY_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fetchpool {

// An IPv4 or IPv6 prefix such as 10.0.0.0/8 or fd00::/8.
struct Cidr {
  int family = 0;           // AF_INET or AF_INET6
  uint8_t addr[16] = {};    // network byte order; first 4 bytes for AF_INET
  int prefix_len = 0;

  static absl::StatusOr<Cidr> Parse(absl::string_view text);
  bool Contains(const sockaddr* addr) const;
  std::string ToString() const;
};

// Which destination addresses fetchpool may connect to. Checked on the
// address actually connected to (after DNS), so a name that resolves to
// 127.0.0.1 or 169.254.169.254 is refused like the literal address.
//
// Denied by default: loopback (127.0.0.0/8, ::1), unspecified (0.0.0.0/8, ::),
// link-local (169.254.0.0/16, fe80::/10) which holds the cloud metadata
// endpoints (169.254.169.254, 169.254.170.2), the AWS IPv6 metadata address
// fd00:ec2::254, Alibaba's 100.100.100.200, and IPv4-mapped IPv6 forms
// (::ffff:127.0.0.1) of all IPv4 entries. Addresses in an allow CIDR are
// permitted even when a deny entry matches.
class DestinationPolicy {
 public:
  // allow_cidrs: e.g. {"127.0.0.0/8"}; INVALID_ARGUMENT naming a bad entry.
  static absl::StatusOr<DestinationPolicy> Create(const std::vector<std::string>& allow_cidrs);

  bool Allows(const sockaddr* addr) const;
  // "127.0.0.1 is in the default deny list (loopback 127.0.0.0/8); allow it with --allow_cidrs"
  std::string Explain(const sockaddr* addr) const;

  const std::vector<Cidr>& allow() const { return allow_; }

 private:
  struct DenyEntry {
    Cidr cidr;
    std::string label;  // "loopback", "link-local / cloud metadata", ...
  };
  std::vector<Cidr> allow_;
  std::vector<DenyEntry> deny_;
};

// "1.2.3.4:80" or "[::1]:443".
std::string SockaddrToString(const sockaddr* addr);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_DESTINATION_POLICY_H_
