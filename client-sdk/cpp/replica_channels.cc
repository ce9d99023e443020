// TEMPORARY: see replica_channels.h.
#include "client-sdk/cpp/replica_channels.h"

#include <netdb.h>
#include <sys/socket.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace fetchpool {
namespace {

std::vector<std::string> Resolve(absl::string_view target) {
  absl::ConsumePrefix(&target, "dns:///");
  const size_t colon = target.rfind(':');
  if (colon == absl::string_view::npos) return {};
  std::string host(target.substr(0, colon));
  const std::string port(target.substr(colon + 1));
  if (absl::StartsWith(host, "[")) host = host.substr(1, host.size() - 2);
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return {};
  std::vector<std::string> members;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char ip[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, ip, sizeof(ip), nullptr, 0, NI_NUMERICHOST) != 0) continue;
    members.push_back(a->ai_family == AF_INET6 ? absl::StrCat("[", ip, "]:", port) : absl::StrCat(ip, ":", port));
  }
  freeaddrinfo(found);
  return members;
}

}  // namespace

ReplicaChannels::ReplicaChannels(std::string target, ChannelFactory factory, absl::Duration)
    : target_(std::move(target)), factory_(std::move(factory)) {
  ring_ = std::make_unique<HostRing>(Resolve(target_));
  for (const std::string& member : ring_->members()) channels_[member] = factory_(member);
}

ReplicaChannels::~ReplicaChannels() = default;

std::string ReplicaChannels::AddressFor(absl::string_view pool_key) {
  absl::MutexLock lock(&mu_);
  const std::string* member = ring_->Pick(pool_key, [](const std::string&) { return true; });
  return member != nullptr ? *member : "";
}

std::shared_ptr<grpc::Channel> ReplicaChannels::ChannelFor(absl::string_view pool_key) {
  const std::string address = AddressFor(pool_key);
  absl::MutexLock lock(&mu_);
  auto it = channels_.find(address);
  return it != channels_.end() ? it->second : nullptr;
}

void ReplicaChannels::RefreshSoon() {}

std::vector<std::string> ReplicaChannels::Addresses() {
  absl::MutexLock lock(&mu_);
  return ring_->members();
}

}  // namespace fetchpool
