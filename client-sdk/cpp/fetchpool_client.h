#ifndef FETCHPOOL_CLIENT_SDK_CPP_FETCHPOOL_CLIENT_H_
#define FETCHPOOL_CLIENT_SDK_CPP_FETCHPOOL_CLIENT_H_

// The C++ client for the fetchpool service: the one boundary C++ callers use
// instead of the generated stubs. The Go, Python and Node SDKs mirror this
// surface (options, Fetch / FetchAsync with cancel, Stats, WatchStats, Get,
// ErrorReason).
//
// Errors: a gRPC failure comes back as an absl::Status with the same code and
// message; ErrorReason(status) gives fetchpool's stable reason. An upstream
// HTTP error status (404, 503, ...) is not an error: it is a FetchResponse.

#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client-sdk/cpp/client_status.h"
#include "client-sdk/cpp/in_flight_fetches.h"
#include "client-sdk/cpp/stats_watch.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool {
namespace client {

struct FetchPoolClientOptions {
  // Deadline of calls made without an explicit timeout. InfiniteDuration()
  // means no deadline, which leaves a stuck call unbounded: avoid it.
  absl::Duration default_timeout = absl::Seconds(30);

  // Responses carry whole HTTP bodies, far above gRPC's 4 MiB default.
  // Keep it at least the server's --max_response_bytes plus headers.
  int max_receive_message_size = 64 * 1024 * 1024;

  // Null means plaintext. Pass grpc::SslCredentials(...) for (m)TLS, or a
  // grpc::CompositeChannelCredentials(...) to attach a token to every call.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

// The channel FetchPoolClient(target, options) would build; for callers that
// share one channel between clients or add their own channel arguments.
std::shared_ptr<grpc::Channel> CreateFetchPoolChannel(absl::string_view target,
                                                      const FetchPoolClientOptions& options = {});

// One FetchAsync call in flight. Copies refer to the same call; dropping every
// handle does not cancel the call, and a handle does not keep it alive.
class PendingFetch {
 public:
  PendingFetch() = default;

  // Asks for the call to stop. The callback still runs exactly once: with
  // CANCELLED, or with the real result if the call had already finished.
  // Safe from any thread, at any time, any number of times (also from the
  // callback, and after the client is gone). A default handle does nothing.
  void Cancel() const;

 private:
  friend class FetchPoolClient;
  explicit PendingFetch(std::weak_ptr<grpc::ClientContext> context) : context_(std::move(context)) {}

  std::weak_ptr<grpc::ClientContext> context_;
};

// Thread-safe: make one and share it. Destroying it cancels the FetchAsync
// calls still in flight and waits for their callbacks to return, so no
// callback runs afterwards; hence it must not be destroyed from inside one of
// its own callbacks (gRPC 1.51 cannot drop a channel on its callback thread
// either).
class FetchPoolClient {
 public:
  using FetchCallback = absl::AnyInvocable<void(absl::StatusOr<fetchpool::v1::FetchResponse>)>;

  // `target` is a gRPC target: "localhost:50051", "dns:///fetchpool:50051",
  // "unix:/run/fetchpool.sock".
  explicit FetchPoolClient(absl::string_view target, FetchPoolClientOptions options = {});

  // Uses a channel the caller built. The channel's own settings win:
  // options.max_receive_message_size and options.credentials are not applied.
  explicit FetchPoolClient(std::shared_ptr<grpc::Channel> channel, FetchPoolClientOptions options = {});

  FetchPoolClient(const FetchPoolClient&) = delete;
  FetchPoolClient& operator=(const FetchPoolClient&) = delete;
  ~FetchPoolClient();

  // One HTTP request through fetchpool; blocks for at most `timeout`.
  absl::StatusOr<fetchpool::v1::FetchResponse> Fetch(const fetchpool::v1::FetchRequest& request,
                                                     absl::Duration timeout);
  absl::StatusOr<fetchpool::v1::FetchResponse> Fetch(const fetchpool::v1::FetchRequest& request);

  // Starts Fetch and returns at once. `done` runs exactly once, on a gRPC
  // thread. It must not block: gRPC runs other calls' completions there.
  PendingFetch FetchAsync(const fetchpool::v1::FetchRequest& request, absl::Duration timeout,
                          FetchCallback done);
  PendingFetch FetchAsync(const fetchpool::v1::FetchRequest& request, FetchCallback done);

  // GET `url` with the server's defaults and the default timeout.
  absl::StatusOr<fetchpool::v1::FetchResponse> Get(absl::string_view url);

  // A snapshot of one pool ("http://api:80") or, with "", of all pools.
  absl::StatusOr<fetchpool::v1::StatsResponse> Stats(absl::string_view host, absl::Duration timeout);
  absl::StatusOr<fetchpool::v1::StatsResponse> Stats(absl::string_view host = "");

  // A snapshot of one pool ("http://api:80") or, with "", of all pools,
  // every `interval` (the server accepts 100ms to 1m; ZeroDuration() means
  // its default, 1s), the first one at once. Returns at once: the call starts
  // on the first StatsWatch::Next(), and errors (a bad interval or host, no
  // server) come out there. Not bounded by default_timeout.
  std::unique_ptr<StatsWatch> WatchStats(absl::string_view host = "",
                                         absl::Duration interval = absl::ZeroDuration());

  const FetchPoolClientOptions& options() const { return options_; }

 private:
  FetchPoolClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<fetchpool::v1::FetchPool::Stub> stub_;
  // Shared with the calls' states, which deregister from gRPC's threads.
  std::shared_ptr<InFlightFetches> in_flight_;
};

}  // namespace client
}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_FETCHPOOL_CLIENT_H_
