#ifndef FETCHPOOL_CLIENT_SDK_CPP_CLIENT_IMPL_H_
#define FETCHPOOL_CLIENT_SDK_CPP_CLIENT_IMPL_H_

// What a Client holds, shared by its sync calls (client.cc), FetchAsync
// (async_fetch.cc) and the FetchStreams it opens.

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client-sdk/cpp/in_flight_fetches.h"
#include "client-sdk/cpp/replica_channels.h"
#include "client-sdk/cpp/retry_policy.h"
#include "fetchpool/client.h"

namespace fetchpool {

struct Client::Impl {
  ClientOptions options;
  // Set when the options cannot work (a token over plaintext, a CA file that
  // cannot be read): every call fails with it.
  absl::Status config_error;
  // round_robin over the target's addresses; Stats and WatchStats always
  // use it, and with affinity a fetch whose URL has no pool key.
  std::shared_ptr<grpc::Channel> channel;
  // With Affinity::kHost: one channel per replica.
  std::unique_ptr<ReplicaChannels> replicas;
  RetryBudget budget;
  // Shared with the FetchAsync states, which deregister from gRPC's threads.
  std::shared_ptr<InFlightFetches> in_flight = std::make_shared<InFlightFetches>();

  // The channel a fetch of `pool_key` goes to.
  std::shared_ptr<grpc::Channel> ChannelFor(const absl::optional<std::string>& pool_key);

  // Deadline, token and pool key on one attempt's context.
  void Prepare(grpc::ClientContext& context, absl::Time deadline,
               const absl::optional<std::string>& pool_key) const;

  // After attempt `attempt` failed with `status`: whether to retry, and the
  // sleep before it. Takes from the retry budget.
  bool RetryAfter(const absl::Status& status, bool replay_safe, int attempt, absl::Time deadline,
                  absl::Duration* sleep);

 private:
  absl::Mutex random_mu_;
  absl::BitGen random_ ABSL_GUARDED_BY(random_mu_);
};

// Now + timeout; InfiniteFuture() for an infinite timeout.
absl::Time DeadlineAfter(absl::Duration timeout);

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_CLIENT_IMPL_H_
