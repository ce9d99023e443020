#ifndef FETCHPOOL_CLIENT_SDK_CPP_REPLICA_CHANNELS_H_
#define FETCHPOOL_CLIENT_SDK_CPP_REPLICA_CHANNELS_H_

// TEMPORARY stand-in written by the C++ SDK helper so the client compiles;
// helper AFF's implementation replaces this file and replica_channels.cc
// whole. It resolves the target once (getaddrinfo) and never again.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client-sdk/cpp/host_ring.h"

namespace fetchpool {

class ReplicaChannels {
 public:
  using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(const std::string& address)>;

  ReplicaChannels(std::string target, ChannelFactory factory,
                  absl::Duration refresh_interval = absl::Seconds(30));
  ~ReplicaChannels();

  std::shared_ptr<grpc::Channel> ChannelFor(absl::string_view pool_key);
  std::string AddressFor(absl::string_view pool_key);
  void RefreshSoon();
  std::vector<std::string> Addresses();

 private:
  std::string target_;
  ChannelFactory factory_;
  absl::Mutex mu_;
  std::unique_ptr<HostRing> ring_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_REPLICA_CHANNELS_H_
