#include "engine/destination_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fetchpool {
namespace {

// The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d). A socket
// connected to one of these reaches the IPv4 address, so every IPv4 rule must
// apply to it too, or ::ffff:127.0.0.1 would slip past a 127.0.0.0/8 deny.
constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// An address pulled out of a sockaddr: family plus bytes in network order.
struct RawAddress {
  int family = 0;
  uint8_t bytes[16] = {};
};

bool ReadAddress(const sockaddr* addr, RawAddress* out) {
  if (addr == nullptr) return false;
  if (addr->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, addr, sizeof(in));
    out->family = AF_INET;
    std::memcpy(out->bytes, &in.sin_addr, 4);
    return true;
  }
  if (addr->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, addr, sizeof(in6));
    out->family = AF_INET6;
    std::memcpy(out->bytes, &in6.sin6_addr, 16);
    return true;
  }
  return false;
}

bool IsMapped(const RawAddress& a) {
  return a.family == AF_INET6 && std::memcmp(a.bytes, kMappedPrefix, 12) == 0;
}

bool PrefixMatches(const uint8_t* net, const uint8_t* addr, int prefix_len) {
  int full_bytes = prefix_len / 8;
  if (std::memcmp(net, addr, full_bytes) != 0) return false;
  int rest = prefix_len % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (net[full_bytes] & mask) == (addr[full_bytes] & mask);
}

std::string AddressToString(int family, const uint8_t* bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, bytes, buf, sizeof(buf)) == nullptr) return "<bad address>";
  return buf;
}

// "127.0.0.1", or "::ffff:127.0.0.1 (IPv4 127.0.0.1)" so a person sees which
// IPv4 rule matched a mapped address.
std::string DescribeAddress(const RawAddress& a) {
  std::string text = AddressToString(a.family, a.bytes);
  if (IsMapped(a)) {
    absl::StrAppend(&text, " (IPv4 ", AddressToString(AF_INET, a.bytes + 12), ")");
  }
  return text;
}

Cidr MustParse(absl::string_view text) {
  absl::StatusOr<Cidr> cidr = Cidr::Parse(text);
  // The default deny list is a compile-time constant; a typo in it is a bug.
  if (!cidr.ok()) std::abort();
  return *cidr;
}

}  // namespace

// Accepts "a.b.c.d/n", "v6addr/n", or a bare address meaning a single host
// (/32 or /128), which is what people usually mean by "--allow_cidrs=10.1.2.3".
// Host bits set below the prefix ("10.0.0.1/8") are rejected rather than
// silently masked: the writer may have meant the single host, and guessing
// wrong would open a whole network; the message names the network to write.
absl::StatusOr<Cidr> Cidr::Parse(absl::string_view text) {
  Cidr cidr;
  absl::string_view address = text;
  absl::string_view prefix;
  bool has_prefix = false;
  if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
    address = text.substr(0, slash);
    prefix = text.substr(slash + 1);
    has_prefix = true;
  }
  std::string address_str(address);
  if (inet_pton(AF_INET, address_str.c_str(), cidr.addr) == 1) {
    cidr.family = AF_INET;
  } else if (inet_pton(AF_INET6, address_str.c_str(), cidr.addr) == 1) {
    cidr.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(absl::StrFormat(
        "\"%s\" is not a CIDR: \"%s\" is not an IPv4 or IPv6 address (write e.g. "
        "10.0.0.0/8, 192.168.1.7 or fd00::/8)",
        absl::CHexEscape(text), absl::CHexEscape(address)));
  }
  const int max_len = cidr.family == AF_INET ? 32 : 128;
  cidr.prefix_len = max_len;
  if (has_prefix) {
    // SimpleAtoi accepts a sign and surrounding spaces; a prefix is digits only.
    int len = -1;
    bool digits = !prefix.empty() && prefix.size() <= 3 &&
                  std::all_of(prefix.begin(), prefix.end(), absl::ascii_isdigit);
    if (!digits || !absl::SimpleAtoi(prefix, &len) || len > max_len) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "\"%s\" is not a CIDR: the prefix length must be a number from 0 to %d",
          absl::CHexEscape(text), max_len));
    }
    cidr.prefix_len = len;
  }
  // Host bits below the prefix must be zero (see above).
  Cidr network = cidr;
  for (int bit = cidr.prefix_len; bit < max_len; ++bit) {
    network.addr[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  if (std::memcmp(network.addr, cidr.addr, sizeof(cidr.addr)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "\"%s\" has host bits set below the /%d prefix; write the network %s, or "
        "%s/%d for the single address",
        absl::CHexEscape(text), cidr.prefix_len, network.ToString(),
        AddressToString(cidr.family, cidr.addr), max_len));
  }
  return cidr;
}

bool Cidr::Contains(const sockaddr* sa) const {
  RawAddress a;
  if (!ReadAddress(sa, &a)) return false;
  if (family == AF_INET) {
    if (a.family == AF_INET) return PrefixMatches(addr, a.bytes, prefix_len);
    if (IsMapped(a)) return PrefixMatches(addr, a.bytes + 12, prefix_len);
    return false;
  }
  if (family == AF_INET6) {
    if (a.family == AF_INET6) return PrefixMatches(addr, a.bytes, prefix_len);
    // An IPv6 rule written in mapped form (::ffff:10.0.0.0/104) covers the
    // plain IPv4 address as well, for the same reason as above.
    uint8_t mapped[16];
    std::memcpy(mapped, kMappedPrefix, 12);
    std::memcpy(mapped + 12, a.bytes, 4);
    return PrefixMatches(addr, mapped, prefix_len);
  }
  return false;
}

std::string Cidr::ToString() const {
  return absl::StrCat(AddressToString(family, addr), "/", prefix_len);
}

absl::StatusOr<DestinationPolicy> DestinationPolicy::Create(
    const std::vector<std::string>& allow_cidrs) {
  DestinationPolicy policy;
  for (size_t i = 0; i < allow_cidrs.size(); ++i) {
    absl::StatusOr<Cidr> cidr = Cidr::Parse(absl::StripAsciiWhitespace(allow_cidrs[i]));
    if (!cidr.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "allow_cidrs entry ", i + 1, " is invalid: ", cidr.status().message()));
    }
    policy.allow_.push_back(*cidr);
  }
  // Mapped IPv4 forms are covered by Cidr::Contains, not listed separately.
  const std::pair<const char*, const char*> kDefaultDeny[] = {
      {"127.0.0.0/8", "loopback"},
      {"::1/128", "loopback"},
      {"0.0.0.0/8", "unspecified / \"this host\""},
      {"::/128", "unspecified"},
      {"169.254.0.0/16", "link-local / cloud metadata"},
      {"fe80::/10", "link-local"},
      {"fd00:ec2::254/128", "AWS IPv6 cloud metadata"},
      {"100.100.100.200/32", "Alibaba Cloud metadata"},
  };
  for (const auto& [text, label] : kDefaultDeny) {
    policy.deny_.push_back(DenyEntry{MustParse(text), label});
  }
  return policy;
}

bool DestinationPolicy::Allows(const sockaddr* addr) const {
  RawAddress a;
  // Fail closed: a family we cannot inspect (AF_UNIX, ...) is not allowed.
  if (!ReadAddress(addr, &a)) return false;
  for (const Cidr& cidr : allow_) {
    if (cidr.Contains(addr)) return true;
  }
  for (const DenyEntry& entry : deny_) {
    if (entry.cidr.Contains(addr)) return false;
  }
  return true;
}

std::string DestinationPolicy::Explain(const sockaddr* addr) const {
  RawAddress a;
  if (!ReadAddress(addr, &a)) {
    return absl::StrCat("address family ", addr == nullptr ? -1 : addr->sa_family,
                        " is not IPv4 or IPv6; fetchpool only connects over IP");
  }
  const std::string who = DescribeAddress(a);
  for (const Cidr& cidr : allow_) {
    if (cidr.Contains(addr)) {
      return absl::StrCat(who, " is allowed by --allow_cidrs entry ", cidr.ToString());
    }
  }
  for (const DenyEntry& entry : deny_) {
    if (!entry.cidr.Contains(addr)) continue;
    // Suggest the exact single-host entry: opening the whole range is a
    // bigger decision than the person probably means to make.
    const bool v4 = a.family == AF_INET || IsMapped(a);
    const std::string single =
        v4 ? absl::StrCat(AddressToString(AF_INET, a.family == AF_INET ? a.bytes : a.bytes + 12),
                          "/32")
           : absl::StrCat(AddressToString(AF_INET6, a.bytes), "/128");
    return absl::StrCat(who, " is in the default deny list (", entry.label, " ",
                        entry.cidr.ToString(), "); if fetchpool should reach it, allow it with ",
                        "--allow_cidrs=", single, " (or the whole range ",
                        entry.cidr.ToString(), ")");
  }
  return absl::StrCat(who, " is allowed (not in the default deny list)");
}

std::string SockaddrToString(const sockaddr* addr) {
  RawAddress a;
  if (!ReadAddress(addr, &a)) {
    return absl::StrCat("<address family ", addr == nullptr ? -1 : addr->sa_family, ">");
  }
  if (a.family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, addr, sizeof(in));
    return absl::StrCat(AddressToString(AF_INET, a.bytes), ":", ntohs(in.sin_port));
  }
  sockaddr_in6 in6;
  std::memcpy(&in6, addr, sizeof(in6));
  std::string host = AddressToString(AF_INET6, a.bytes);
  // A link-local address means nothing without its interface.
  if (in6.sin6_scope_id != 0) absl::StrAppend(&host, "%", in6.sin6_scope_id);
  return absl::StrCat("[", host, "]:", ntohs(in6.sin6_port));
}

}  // namespace fetchpool
