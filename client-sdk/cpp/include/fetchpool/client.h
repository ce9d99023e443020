#ifndef FETCHPOOL_CLIENT_H_
#define FETCHPOOL_CLIENT_H_

// The C++ client for the fetchpool service (client-sdk/README.md is the
// contract it follows):
//
//   fetchpool::Client client("127.0.0.1:50051");
//   auto response = client.Get("https://example.com/");
//   if (!response.ok()) std::cerr << response.status() << " "
//                                  << fetchpool::ErrorReason(response.status());
//
// Errors: a gRPC failure comes back as an absl::Status with the same code and
// message; ErrorReason(status) gives fetchpool's stable reason. An upstream
// HTTP error status (404, 503, ...) is not an error: it is a FetchResponse.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fetchpool/error_reason.h"
#include "fetchpool/fetch_stream.h"
#include "fetchpool/pool_key.h"
#include "fetchpool/stats_watch.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool {

class AsyncFetch;

// How fetches are spread over the replicas behind the target.
enum class Affinity {
  kNone,  // round_robin over every resolved address
  kHost,  // each pool key always to one replica (fetchpool-ring-v1)
};

struct ClientOptions {
  // Deadline of calls made without an explicit timeout. Retries happen
  // inside it. InfiniteDuration() means no deadline: avoid it.
  absl::Duration default_timeout = absl::Seconds(30);

  // Responses carry whole HTTP bodies, far above gRPC's 4 MiB default.
  // Keep it at least the server's --max_response_bytes plus headers.
  int max_receive_message_size = 64 * 1024 * 1024;

  // TLS: on when any of tls, ca_file, client_cert_file is set. ca_file is a
  // PEM bundle to trust (else the system roots); client_cert_file and
  // client_key_file (PEM) make it mTLS.
  bool tls = false;
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
  // The name the server certificate must carry, when it is not the target's.
  std::string server_name_override;

  // Sent as "authorization: Bearer <token>" on every call. Over plaintext
  // the client refuses every call (FAILED_PRECONDITION) unless
  // allow_token_over_plaintext is set (tests, a sidecar on loopback).
  std::string token;
  bool allow_token_over_plaintext = false;

  Affinity affinity = Affinity::kNone;
};

// One FetchAsync call in flight. Copies refer to the same call; dropping every
// handle does not cancel the call, and a handle does not keep it alive.
class PendingFetch {
 public:
  PendingFetch() = default;

  // Asks for the call to stop, also a retry waiting to start. The callback
  // still runs exactly once: with CANCELLED, or with the real result if the
  // call had already finished. Safe from any thread, at any time, any number
  // of times. A default handle does nothing.
  void Cancel() const {
    if (cancel_) cancel_();
  }

 private:
  friend class Client;
  explicit PendingFetch(std::function<void()> cancel) : cancel_(std::move(cancel)) {}

  std::function<void()> cancel_;
};

// Thread-safe: make one per process and share it. Destroying it cancels the
// FetchAsync calls still in flight and waits for their callbacks to return,
// so it must not be destroyed from inside one of its own callbacks.
class Client {
 public:
  using FetchCallback = absl::AnyInvocable<void(absl::StatusOr<fetchpool::v1::FetchResponse>)>;

  // `target` is a gRPC target: "localhost:50051", "dns:///fetchpool:50051",
  // "unix:/run/fetchpool.sock".
  explicit Client(absl::string_view target, ClientOptions options = {});

  // Uses a channel the caller built. The channel's own settings win: the
  // options' message size, TLS, load balancing and affinity are not applied
  // (the deadline, token and retries are; with a token over a TLS channel,
  // set options.tls so the plaintext guard lets it through).
  explicit Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // One HTTP request through fetchpool, retried as the contract allows;
  // blocks for at most `timeout`.
  absl::StatusOr<fetchpool::v1::FetchResponse> Fetch(const fetchpool::v1::FetchRequest& request,
                                                     absl::Duration timeout);
  absl::StatusOr<fetchpool::v1::FetchResponse> Fetch(const fetchpool::v1::FetchRequest& request);

  // Fetch, returning at once. `done` runs exactly once, on a gRPC thread;
  // it must not block: gRPC runs other calls' completions there.
  PendingFetch FetchAsync(const fetchpool::v1::FetchRequest& request, absl::Duration timeout,
                          FetchCallback done);
  PendingFetch FetchAsync(const fetchpool::v1::FetchRequest& request, FetchCallback done);

  // GET `url` with the server's defaults and the default timeout.
  absl::StatusOr<fetchpool::v1::FetchResponse> Get(absl::string_view url);

  // A snapshot of one pool ("http://api:80") or, with "", of all pools.
  absl::StatusOr<fetchpool::v1::StatsResponse> Stats(absl::string_view host, absl::Duration timeout);
  absl::StatusOr<fetchpool::v1::StatsResponse> Stats(absl::string_view host = "");

  // A snapshot every `interval` (the server accepts 100ms to 1m; zero means
  // its default, 1s), the first at once. Returns at once: the call starts on
  // the first StatsWatch::Next(), where errors come out. No deadline.
  std::unique_ptr<StatsWatch> WatchStats(absl::string_view host = "",
                                         absl::Duration interval = absl::ZeroDuration());

  // A FetchStream: many fetches over one bidirectional call (one per replica
  // with Affinity::kHost), at most `max_in_flight` unanswered. No deadline,
  // no retries. It may outlive the client.
  std::unique_ptr<FetchStream> OpenStream(size_t max_in_flight = 256);

  const ClientOptions& options() const;

 private:
  friend class AsyncFetch;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_H_
