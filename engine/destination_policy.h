#ifndef FETCHPOOL_ENGINE_DESTINATION_POLICY_H_
#define FETCHPOOL_ENGINE_DESTINATION_POLICY_H_

#include <sys/socket.h>
#include <netinet/in.h>

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
  // True when every address of this prefix is in `outer` (IPv4 and its
  // IPv4-mapped IPv6 form compare as the same addresses).
  bool Within(const Cidr& outer) const;
  std::string ToString() const;
};

// Which destination addresses fetchpool may connect to. Checked on the
// address actually connected to (after DNS), so a name that resolves to
// 127.0.0.1 or 169.254.169.254 is refused like the literal address.
//
// Built-in deny list (every profile): loopback (127.0.0.0/8, ::1),
// unspecified (0.0.0.0/8, ::), link-local (169.254.0.0/16, fe80::/10) which
// holds the cloud metadata endpoints (169.254.169.254, 169.254.170.2), the
// AWS IPv6 metadata address fd00:ec2::254, Alibaba's 100.100.100.200,
// multicast (224.0.0.0/4, ff00::/8) and broadcast (255.255.255.255).
// IPv4-mapped IPv6 forms (::ffff:127.0.0.1) match every IPv4 entry.
// IPv6 addresses that carry an IPv4 address are also checked by that IPv4
// address against every IPv4 rule: IPv4-compatible ::/96, NAT64
// 64:ff9b::/96 and 64:ff9b:1::/48 (last 4 bytes), 6to4 2002::/16 (bytes
// 2-5) and Teredo 2001::/32 (server: bytes 4-7; client: last 4 bytes XOR
// 0xff). So [64:ff9b::a9fe:a9fe] and [2002:a9fe:a9fe::] are metadata.
// deny_private_networks adds 10/8, 172.16/12, 192.168/16, fc00::/7,
// 100.64/10 (carrier-grade NAT) and 198.18/15 (benchmarking); deny_cidrs
// adds the operator's own entries.
//
// How allow and deny combine, for every deny entry alike: an address in a
// deny entry is allowed only by an allow entry that contains the address
// AND lies inside that deny entry (names it exactly or a sub-range). So
// --allow_cidrs=127.0.0.0/8 or 127.0.0.1/32 opens loopback, while
// --allow_cidrs=::/0 or 0.0.0.0/0 opens nothing that is denied: a broad
// allow cannot undo a deny by accident, whether built-in, private networks
// or the operator's deny_cidrs. An address in no deny entry is allowed.
// (fetchpool's own listening ports are refused elsewhere, SelfAddresses,
// and no allow entry opens them.)
class DestinationPolicy {
 public:
  // allow_cidrs: e.g. {"127.0.0.0/8"}; INVALID_ARGUMENT naming a bad entry.
  static absl::StatusOr<DestinationPolicy> Create(const std::vector<std::string>& allow_cidrs,
                                                  const std::vector<std::string>& deny_cidrs = {},
                                                  bool deny_private_networks = false);

  bool Allows(const sockaddr* addr) const;
  // "127.0.0.1 is in the default deny list (loopback 127.0.0.0/8); allow it with --allow_cidrs"
  std::string Explain(const sockaddr* addr) const;

  const std::vector<Cidr>& allow() const { return allow_; }
  // The operator's deny entries (deny_cidrs), as parsed.
  std::vector<Cidr> operator_deny() const;
  bool deny_private_networks() const { return deny_private_networks_; }

 private:
  enum class DenyKind { kBuiltIn, kPrivate, kOperator };
  struct DenyEntry {
    Cidr cidr;
    std::string label;  // "loopback", "link-local / cloud metadata", ...
    DenyKind kind = DenyKind::kBuiltIn;
  };
  // The deny entry that refuses this plain (IPv4, mapped or IPv6) address
  // with no allow entry opening it; nullptr: allowed.
  const DenyEntry* DenyingEntry(const sockaddr* addr) const;
  // The first embedded IPv4 address that is denied, and the entry denying it.
  const DenyEntry* DenyingEmbedded(const sockaddr* addr, sockaddr_storage* embedded,
                                   std::string* how) const;
  std::string ExplainEntry(const DenyEntry& entry, const std::string& who,
                           const std::string& single) const;

  std::vector<Cidr> allow_;
  std::vector<DenyEntry> deny_;
  bool deny_private_networks_ = false;
};

// "1.2.3.4:80" or "[::1]:443".
std::string SockaddrToString(const sockaddr* addr);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_DESTINATION_POLICY_H_
