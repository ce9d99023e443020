#ifndef FETCHPOOL_CLIENT_SDK_CPP_REPLICA_CHANNELS_H_
#define FETCHPOOL_CLIENT_SDK_CPP_REPLICA_CHANNELS_H_

// `affinity: host` for the C++ SDK (client-sdk/README.md, "Host affinity"):
// one gRPC channel per resolved address of the target and a fetchpool-ring-v1
// ring over them, so every fetch for one pool key goes to one replica. Debian's
// gRPC (1.51) has no ring_hash keyed by a request header (gRFC A76), hence the
// SDK's own ring.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client-sdk/cpp/host_ring.h"

namespace fetchpool {

class ReplicaChannels {
 public:
  using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(const std::string& address)>;

  // target: "host:port" or "dns:///host:port" (no port: 443, as gRPC's dns
  // resolver). Resolves it now and every refresh_interval. `factory` makes the
  // channel of one address ("ip:port" or "[ip]:port").
  ReplicaChannels(std::string target, ChannelFactory factory,
                  absl::Duration refresh_interval = absl::Seconds(30));
  ReplicaChannels(const ReplicaChannels&) = delete;
  ReplicaChannels& operator=(const ReplicaChannels&) = delete;
  // Waits for a resolution in progress (getaddrinfo cannot be cancelled).
  ~ReplicaChannels();

  // The channel of the replica pool_key hashes to (a replica whose channel is in
  // TRANSIENT_FAILURE is skipped; when every one is, the plain ring pick);
  // nullptr when nothing resolved.
  std::shared_ptr<grpc::Channel> ChannelFor(absl::string_view pool_key);
  // The same choice, as "ip:port"; "" when nothing resolved.
  std::string AddressFor(absl::string_view pool_key);
  // Re-resolve now, in the background (after UNAVAILABLE with no reason: the
  // replica may be gone). Calls close together share one resolution.
  void RefreshSoon();
  // The resolved addresses, sorted.
  std::vector<std::string> Addresses();

  // All A and AAAA addresses of a target as "ip:port" / "[ip]:port", sorted,
  // without duplicates.
  static absl::StatusOr<std::vector<std::string>> Resolve(absl::string_view target);

 private:
  // What a pick needs, immutable once published: a pick copies the pointer
  // under the lock and hashes outside it.
  struct Replicas {
    HostRing ring;
    std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  };

  std::shared_ptr<const Replicas> Current();
  std::pair<const std::string*, std::shared_ptr<const Replicas>> Choose(absl::string_view pool_key);
  void Refresh();
  void RefreshLoop();

  const std::string target_;
  const ChannelFactory factory_;
  const absl::Duration refresh_interval_;

  absl::Mutex mu_;
  std::shared_ptr<const Replicas> replicas_ ABSL_GUARDED_BY(mu_);
  bool refresh_asked_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Started last, joined first.
  std::thread refresher_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_REPLICA_CHANNELS_H_
