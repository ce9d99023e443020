#include "engine/self_addresses.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/destination_policy.h"

namespace fetchpool {
namespace {

constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// `addr` as IPv6 bytes (IPv4 mapped) and its port; false for other families.
bool ToIpv6(const sockaddr* addr, uint8_t out[16], uint16_t* port) {
  if (addr == nullptr) return false;
  if (addr->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, addr, sizeof(in));
    std::memcpy(out, kMapped, 12);
    std::memcpy(out + 12, &in.sin_addr, 4);
    if (port != nullptr) *port = ntohs(in.sin_port);
    return true;
  }
  if (addr->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, addr, sizeof(in6));
    std::memcpy(out, &in6.sin6_addr, 16);
    if (port != nullptr) *port = ntohs(in6.sin6_port);
    return true;
  }
  return false;
}

bool IsLoopback(const uint8_t a[16]) {
  static constexpr uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (std::memcmp(a, kV6Loopback, 16) == 0) return true;
  return std::memcmp(a, kMapped, 12) == 0 && a[12] == 127;
}

}  // namespace

absl::Status SelfAddresses::Set(const std::vector<std::string>& listen) {
  std::vector<Entry> entries;
  bool need_interfaces = false;
  std::vector<std::pair<uint16_t, std::string>> wildcard_ports;
  for (const std::string& hp : listen) {
    const size_t colon = hp.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(hp.substr(colon + 1), &port) ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("self address \"", hp, "\" is not host:port"));
    }
    std::string host = hp.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    Entry e;
    e.port = static_cast<uint16_t>(port);
    e.listen = hp;
    in_addr v4;
    in6_addr v6;
    static constexpr uint8_t kZero[16] = {};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
      std::memcpy(e.addr, kMapped, 12);
      std::memcpy(e.addr + 12, &v4, 4);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
      std::memcpy(e.addr, &v6, 16);
    } else {
      std::memset(e.addr, 0, 16);  // a name: treated as a wildcard (no DNS here)
    }
    const bool wildcard = std::memcmp(e.addr, kZero, 16) == 0 ||
                          (std::memcmp(e.addr, kMapped, 12) == 0 &&
                           std::memcmp(e.addr + 12, kZero, 4) == 0);
    if (wildcard || IsLoopback(e.addr)) e.any_loopback = true;
    if (wildcard) {
      need_interfaces = true;
      wildcard_ports.emplace_back(e.port, hp);
    }
    entries.push_back(e);
  }
  if (need_interfaces) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) == 0) {
      for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
        uint8_t bytes[16];
        if (!ToIpv6(it->ifa_addr, bytes, nullptr)) continue;
        for (const auto& [port, hp] : wildcard_ports) {
          Entry e;
          std::memcpy(e.addr, bytes, 16);
          e.port = port;
          e.listen = hp;
          entries.push_back(e);
        }
      }
      freeifaddrs(list);
    }
  }
  absl::MutexLock lock(&mu_);
  entries_ = std::move(entries);
  return absl::OkStatus();
}

const SelfAddresses::Entry* SelfAddresses::Find(const sockaddr* addr) const {
  uint8_t bytes[16];
  uint16_t port = 0;
  if (!ToIpv6(addr, bytes, &port)) return nullptr;
  mu_.AssertReaderHeld();
  for (const Entry& e : entries_) {
    if (e.port != port) continue;
    if (std::memcmp(e.addr, bytes, 16) == 0) return &e;
    if (e.any_loopback && IsLoopback(bytes)) return &e;
  }
  return nullptr;
}

bool SelfAddresses::Contains(const sockaddr* addr) const {
  absl::ReaderMutexLock lock(&mu_);
  return Find(addr) != nullptr;
}

std::string SelfAddresses::Explain(const sockaddr* addr) const {
  absl::ReaderMutexLock lock(&mu_);
  const Entry* e = Find(addr);
  if (e == nullptr) return "";
  return absl::StrCat(SockaddrToString(addr), " is fetchpool's own listening address (",
                      e->listen, "); fetchpool never fetches from itself, and no allow entry "
                      "opens it");
}

}  // namespace fetchpool
