#include "client-sdk/cpp/replica_channels.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace fetchpool {
namespace {

// RefreshSoon after every failed call would resolve once per failure while a
// replica is down; resolutions closer than this share one.
constexpr absl::Duration kMinRefreshGap = absl::Seconds(1);

// "host:port", "[v6]:port", "host" (port 443, gRPC's default for dns:).
absl::Status SplitHostPort(absl::string_view authority, std::string* host, std::string* port) {
  if (absl::ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("unterminated [ in target");
    *host = std::string(authority.substr(0, close));
    absl::string_view rest = authority.substr(close + 1);
    *port = absl::ConsumePrefix(&rest, ":") ? std::string(rest) : "443";
  } else if (std::count(authority.begin(), authority.end(), ':') == 1) {
    const size_t colon = authority.find(':');
    *host = std::string(authority.substr(0, colon));
    *port = std::string(authority.substr(colon + 1));
  } else {  // a bare name, or a bare IPv6 literal
    *host = std::string(authority);
    *port = "443";
  }
  if (host->empty() || port->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no host or port in target \"", authority, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ReplicaChannels::Resolve(absl::string_view target) {
  absl::string_view authority = target;
  if (!absl::ConsumePrefix(&authority, "dns:///")) absl::ConsumePrefix(&authority, "dns:");
  std::string host, port;
  if (absl::Status split = SplitHostPort(authority, &host, &port); !split.ok()) return split;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;  // A and AAAA
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("resolving ", host, ": ", gai_strerror(rc)));
  }
  std::vector<std::string> addresses;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char ip[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
      addresses.push_back(absl::StrCat(ip, ":", ntohs(v4->sin_port)));
    } else if (a->ai_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
      addresses.push_back(absl::StrCat("[", ip, "]:", ntohs(v6->sin6_port)));
    }
  }
  freeaddrinfo(found);
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  if (addresses.empty()) return absl::UnavailableError(absl::StrCat("no address for ", host));
  return addresses;
}

// Resolution runs on a thread of its own, never on a caller's: getaddrinfo
// can block for seconds when a DNS server is slow, and a fetch must not pay
// for that (nor wait on a lock held across it). Picks read an immutable
// snapshot, so the refresher swaps one pointer under the lock and nothing
// else. The constructor's first resolution is the one exception: a client is
// useless until it has addresses.
ReplicaChannels::ReplicaChannels(std::string target, ChannelFactory factory,
                                 absl::Duration refresh_interval)
    : target_(std::move(target)), factory_(std::move(factory)), refresh_interval_(refresh_interval) {
  Refresh();
  refresher_ = std::thread([this] { RefreshLoop(); });
}

ReplicaChannels::~ReplicaChannels() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  refresher_.join();
}

void ReplicaChannels::Refresh() {
  absl::StatusOr<std::vector<std::string>> addresses = Resolve(target_);
  // A failed or empty lookup keeps what we had: a DNS hiccup must not drop
  // every replica. A replica that is really gone fails its calls and is
  // skipped while its channel is in TRANSIENT_FAILURE.
  if (!addresses.ok()) return;
  std::shared_ptr<const Replicas> before = Current();
  if (before != nullptr && before->ring.members() == *addresses) return;

  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  for (const std::string& address : *addresses) {
    std::shared_ptr<grpc::Channel> kept;
    if (before != nullptr) {
      auto it = before->channels.find(address);
      if (it != before->channels.end()) kept = it->second;
    }
    channels.emplace(address, kept != nullptr ? std::move(kept) : factory_(address));
  }
  auto after = std::make_shared<const Replicas>(Replicas{HostRing(*std::move(addresses)), std::move(channels)});
  absl::MutexLock lock(&mu_);
  replicas_ = std::move(after);
}

void ReplicaChannels::RefreshLoop() {
  absl::Time last = absl::Now();
  mu_.Lock();
  while (!stopping_) {
    auto asked_or_stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || refresh_asked_; };
    mu_.AwaitWithDeadline(absl::Condition(&asked_or_stopping), last + refresh_interval_);
    if (stopping_) break;
    if (refresh_asked_) {
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithDeadline(absl::Condition(&stopping), last + kMinRefreshGap);
      if (stopping_) break;
    }
    refresh_asked_ = false;
    mu_.Unlock();
    Refresh();
    last = absl::Now();
    mu_.Lock();
  }
  mu_.Unlock();
}

void ReplicaChannels::RefreshSoon() {
  absl::MutexLock lock(&mu_);
  refresh_asked_ = true;
}

std::shared_ptr<const ReplicaChannels::Replicas> ReplicaChannels::Current() {
  absl::MutexLock lock(&mu_);
  return replicas_;
}

std::pair<const std::string*, std::shared_ptr<const ReplicaChannels::Replicas>> ReplicaChannels::Choose(
    absl::string_view pool_key) {
  std::shared_ptr<const Replicas> replicas = Current();
  if (replicas == nullptr) return {nullptr, nullptr};
  const std::string* member = replicas->ring.Pick(pool_key, [&](const std::string& address) {
    return replicas->channels.at(address)->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_TRANSIENT_FAILURE;
  });
  // Every replica failing: send to the plain pick rather than nowhere, so the
  // call fails (or succeeds, if that replica is back) with gRPC's own status.
  if (member == nullptr) member = replicas->ring.Pick(pool_key);
  return {member, std::move(replicas)};
}

std::shared_ptr<grpc::Channel> ReplicaChannels::ChannelFor(absl::string_view pool_key) {
  auto [member, replicas] = Choose(pool_key);
  if (member == nullptr) return nullptr;
  return replicas->channels.at(*member);
}

std::string ReplicaChannels::AddressFor(absl::string_view pool_key) {
  auto [member, replicas] = Choose(pool_key);
  return member == nullptr ? std::string() : *member;
}

std::vector<std::string> ReplicaChannels::Addresses() {
  std::shared_ptr<const Replicas> replicas = Current();
  return replicas == nullptr ? std::vector<std::string>() : replicas->ring.members();
}

}  // namespace fetchpool
