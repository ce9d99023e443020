#include "engine/destination_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/container/inlined_vector.h"
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

// Both prefixes as IPv6 (IPv4 in its mapped form), so an IPv4 entry and its
// mapped IPv6 spelling compare as the same addresses.
static void AsIpv6(const Cidr& c, uint8_t out[16], int* prefix_len) {
  if (c.family == AF_INET) {
    std::memcpy(out, kMappedPrefix, 12);
    std::memcpy(out + 12, c.addr, 4);
    *prefix_len = c.prefix_len + 96;
    return;
  }
  std::memcpy(out, c.addr, 16);
  *prefix_len = c.prefix_len;
}

bool Cidr::Within(const Cidr& outer) const {
  uint8_t inner6[16], outer6[16];
  int inner_len = 0, outer_len = 0;
  AsIpv6(*this, inner6, &inner_len);
  AsIpv6(outer, outer6, &outer_len);
  return outer_len <= inner_len && PrefixMatches(outer6, inner6, outer_len);
}

std::string Cidr::ToString() const {
  return absl::StrCat(AddressToString(family, addr), "/", prefix_len);
}

namespace {

absl::Status ParseList(const std::vector<std::string>& texts, absl::string_view setting,
                       std::vector<Cidr>* out) {
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::StatusOr<Cidr> cidr = Cidr::Parse(absl::StripAsciiWhitespace(texts[i]));
    if (!cidr.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(setting, " entry ", i + 1,
                                                     " is invalid: ", cidr.status().message()));
    }
    out->push_back(*cidr);
  }
  return absl::OkStatus();
}

sockaddr_storage Ipv4Sockaddr(const uint8_t* bytes) {
  sockaddr_storage storage{};
  sockaddr_in in{};
  in.sin_family = AF_INET;
  std::memcpy(&in.sin_addr, bytes, 4);
  std::memcpy(&storage, &in, sizeof(in));
  return storage;
}

// IPv4 addresses an IPv6 address carries, with how ("NAT64 64:ff9b::/96").
struct Embedded {
  uint8_t v4[4];
  const char* how;
};
absl::InlinedVector<Embedded, 2> EmbeddedIpv4(const RawAddress& a) {
  absl::InlinedVector<Embedded, 2> out;
  if (a.family != AF_INET6 || IsMapped(a)) return out;  // mapped: Cidr::Contains covers it
  const uint8_t* b = a.bytes;
  static constexpr uint8_t kZero[12] = {};
  static constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  static constexpr uint8_t kNat64Local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
  auto add = [&](const uint8_t* v4, const char* how, bool flip = false) {
    Embedded e;
    for (int i = 0; i < 4; ++i) e.v4[i] = flip ? static_cast<uint8_t>(v4[i] ^ 0xff) : v4[i];
    e.how = how;
    out.push_back(e);
  };
  // :: and ::1 are not IPv4-compatible addresses (RFC 4291 2.5.5.1); their
  // own entries (unspecified, loopback) decide for them.
  const bool unspecified_or_loopback = std::memcmp(b, kZero, 12) == 0 && b[12] == 0 &&
                                       b[13] == 0 && b[14] == 0 && b[15] <= 1;
  if (std::memcmp(b, kZero, 12) == 0 && !unspecified_or_loopback) {
    add(b + 12, "IPv4-compatible ::/96");
  }
  if (std::memcmp(b, kNat64, 12) == 0) add(b + 12, "NAT64 64:ff9b::/96");
  if (std::memcmp(b, kNat64Local, 6) == 0) add(b + 12, "NAT64 64:ff9b:1::/48");
  if (b[0] == 0x20 && b[1] == 0x02) add(b + 2, "6to4 2002::/16");
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) {
    add(b + 4, "Teredo 2001::/32 server");
    add(b + 12, "Teredo 2001::/32 client", /*flip=*/true);
  }
  return out;
}

}  // namespace

absl::StatusOr<DestinationPolicy> DestinationPolicy::Create(
    const std::vector<std::string>& allow_cidrs, const std::vector<std::string>& deny_cidrs,
    bool deny_private_networks) {
  DestinationPolicy policy;
  policy.deny_private_networks_ = deny_private_networks;
  if (absl::Status s = ParseList(allow_cidrs, "allow_cidrs", &policy.allow_); !s.ok()) return s;
  std::vector<Cidr> operator_deny;
  if (absl::Status s = ParseList(deny_cidrs, "deny_cidrs", &operator_deny); !s.ok()) return s;
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
      {"224.0.0.0/4", "multicast"},
      {"ff00::/8", "multicast"},
      {"255.255.255.255/32", "broadcast"},
  };
  for (const auto& [text, label] : kDefaultDeny) {
    policy.deny_.push_back(DenyEntry{MustParse(text), label, DenyKind::kBuiltIn});
  }
  if (deny_private_networks) {
    const std::pair<const char*, const char*> kPrivate[] = {
        {"10.0.0.0/8", "private network (RFC 1918)"},
        {"172.16.0.0/12", "private network (RFC 1918)"},
        {"192.168.0.0/16", "private network (RFC 1918)"},
        {"fc00::/7", "unique local IPv6"},
        {"100.64.0.0/10", "carrier-grade NAT"},
        {"198.18.0.0/15", "benchmarking network"},
    };
    for (const auto& [text, label] : kPrivate) {
      policy.deny_.push_back(DenyEntry{MustParse(text), label, DenyKind::kPrivate});
    }
  }
  for (const Cidr& cidr : operator_deny) {
    policy.deny_.push_back(DenyEntry{cidr, "deny_cidrs", DenyKind::kOperator});
  }
  return policy;
}

std::vector<Cidr> DestinationPolicy::operator_deny() const {
  std::vector<Cidr> out;
  for (const DenyEntry& e : deny_) {
    if (e.kind == DenyKind::kOperator) out.push_back(e.cidr);
  }
  return out;
}

const DestinationPolicy::DenyEntry* DestinationPolicy::DenyingEntry(const sockaddr* addr) const {
  for (const DenyEntry& entry : deny_) {
    if (!entry.cidr.Contains(addr)) continue;
    const bool opened = std::any_of(allow_.begin(), allow_.end(), [&](const Cidr& allow) {
      return allow.Contains(addr) && allow.Within(entry.cidr);
    });
    if (!opened) return &entry;
  }
  return nullptr;
}

const DestinationPolicy::DenyEntry* DestinationPolicy::DenyingEmbedded(
    const sockaddr* addr, sockaddr_storage* embedded, std::string* how) const {
  RawAddress a;
  if (!ReadAddress(addr, &a)) return nullptr;
  for (const Embedded& e : EmbeddedIpv4(a)) {
    sockaddr_storage v4 = Ipv4Sockaddr(e.v4);
    if (const DenyEntry* entry = DenyingEntry(reinterpret_cast<const sockaddr*>(&v4))) {
      *embedded = v4;
      *how = e.how;
      return entry;
    }
  }
  return nullptr;
}

bool DestinationPolicy::Allows(const sockaddr* addr) const {
  RawAddress a;
  // Fail closed: a family we cannot inspect (AF_UNIX, ...) is not allowed.
  if (!ReadAddress(addr, &a)) return false;
  if (DenyingEntry(addr) != nullptr) return false;
  sockaddr_storage embedded;
  std::string how;
  return DenyingEmbedded(addr, &embedded, &how) == nullptr;
}

std::string DestinationPolicy::ExplainEntry(const DenyEntry& entry, const std::string& who,
                                            const std::string& single) const {
  const std::string range = entry.cidr.ToString();
  switch (entry.kind) {
    case DenyKind::kBuiltIn:
      // Suggest the exact single-host entry: opening the whole range is a
      // bigger decision than the person probably means to make.
      return absl::StrCat(who, " is in the default deny list (", entry.label, " ", range,
                          "); if fetchpool should reach it, allow it with ",
                          "--allow_cidrs=", single, " (or the whole range ", range, ")");
    case DenyKind::kPrivate:
      return absl::StrCat(who, " is in a private range denied by deny_private_networks (",
                          entry.label, " ", range, "); allow it with --allow_cidrs=", single,
                          " (an allow entry inside ", range, ")");
    case DenyKind::kOperator:
      return absl::StrCat(who, " is denied by deny_cidrs entry ", range,
                          "; only an allow_cidrs entry inside it opens it, e.g. --allow_cidrs=",
                          single);
  }
  return who;
}

std::string DestinationPolicy::Explain(const sockaddr* addr) const {
  RawAddress a;
  if (!ReadAddress(addr, &a)) {
    return absl::StrCat("address family ", addr == nullptr ? -1 : addr->sa_family,
                        " is not IPv4 or IPv6; fetchpool only connects over IP");
  }
  const std::string who = DescribeAddress(a);
  const bool v4 = a.family == AF_INET || IsMapped(a);
  const std::string single =
      v4 ? absl::StrCat(AddressToString(AF_INET, a.family == AF_INET ? a.bytes : a.bytes + 12),
                        "/32")
         : absl::StrCat(AddressToString(AF_INET6, a.bytes), "/128");
  if (const DenyEntry* entry = DenyingEntry(addr)) return ExplainEntry(*entry, who, single);
  sockaddr_storage embedded;
  std::string how;
  if (const DenyEntry* entry = DenyingEmbedded(addr, &embedded, &how)) {
    RawAddress e;
    ReadAddress(reinterpret_cast<const sockaddr*>(&embedded), &e);
    const std::string inner = AddressToString(AF_INET, e.bytes);
    return absl::StrCat(who, " carries IPv4 ", inner, " (", how, "): ",
                        ExplainEntry(*entry, inner, absl::StrCat(inner, "/32")));
  }
  for (const Cidr& cidr : allow_) {
    if (cidr.Contains(addr)) {
      return absl::StrCat(who, " is allowed by --allow_cidrs entry ", cidr.ToString());
    }
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
