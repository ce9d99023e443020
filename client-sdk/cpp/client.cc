#include "fetchpool/client.h"

#include <utility>

#include "client-sdk/cpp/client_channel.h"
#include "client-sdk/cpp/client_impl.h"
#include "client-sdk/cpp/client_status.h"

namespace fetchpool {
namespace {

using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;
using fetchpool::v1::StatsRequest;
using fetchpool::v1::StatsResponse;
using fetchpool::v1::WatchStatsRequest;

// google.protobuf.Duration's range: about 10,000 years.
constexpr int64_t kMaxDurationSeconds = 315576000000;

}  // namespace

absl::Time DeadlineAfter(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return absl::Now() + timeout;
}

std::shared_ptr<grpc::Channel> Client::Impl::ChannelFor(const absl::optional<std::string>& pool_key) {
  if (replicas != nullptr && pool_key.has_value()) {
    if (auto replica = replicas->ChannelFor(*pool_key)) return replica;
  }
  return channel;
}

void Client::Impl::Prepare(grpc::ClientContext& context, absl::Time deadline,
                           const absl::optional<std::string>& pool_key) const {
  // No deadline at all rather than one at the far end of the clock: gRPC
  // treats both alike, but only this one is unambiguous.
  if (deadline != absl::InfiniteFuture()) context.set_deadline(absl::ToChronoTime(deadline));
  // Plain metadata rather than call credentials: gRPC drops those over
  // plaintext, which allow_token_over_plaintext allows on purpose.
  if (!options.token.empty()) context.AddMetadata("authorization", "Bearer " + options.token);
  if (pool_key.has_value()) context.AddMetadata(std::string(kPoolKeyMetadataKey), *pool_key);
}

bool Client::Impl::RetryAfter(const absl::Status& status, bool replay_safe, int attempt, absl::Time deadline,
                              absl::Duration* sleep) {
  const bool no_reason_unavailable =
      status.code() == absl::StatusCode::kUnavailable && ErrorReason(status).empty();
  // The replica may be gone: look the name up again before the next call.
  if (no_reason_unavailable && replicas != nullptr) replicas->RefreshSoon();
  if (!IsRetryableFailure(status, replay_safe)) return false;
  const bool budget_allows = budget.OnRetryableFailure();
  {
    absl::MutexLock lock(&random_mu_);
    *sleep = Backoff(attempt, random_);
  }
  return ShouldRetry(status, replay_safe, attempt, *sleep, deadline - absl::Now(), budget_allows);
}

Client::Client(absl::string_view target, ClientOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  const ClientOptions& opts = impl_->options;
  impl_->config_error = CheckOptions(opts);
  auto credentials = MakeChannelCredentials(opts);
  if (!credentials.ok()) {
    if (impl_->config_error.ok()) impl_->config_error = credentials.status();
    credentials = grpc::InsecureChannelCredentials();  // never used: every call fails first
  }
  const std::string target_str(target);
  impl_->channel = MakeChannel(target_str, *credentials, opts);
  if (opts.affinity == Affinity::kHost) {
    // Replica channels dial an IP; the certificate still names the target.
    const std::string tls_name = TargetHost(target_str);
    auto creds = *credentials;
    ClientOptions copy = opts;
    impl_->replicas = std::make_unique<ReplicaChannels>(
        target_str, [creds, copy, tls_name](const std::string& address) {
          return MakeChannel(address, creds, copy, tls_name);
        });
  }
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  impl_->config_error = CheckOptions(impl_->options);
  impl_->channel = std::move(channel);
}

Client::~Client() { impl_->in_flight->CancelAllAndWait(); }

const ClientOptions& Client::options() const { return impl_->options; }

absl::StatusOr<FetchResponse> Client::Fetch(const FetchRequest& request, absl::Duration timeout) {
  if (!impl_->config_error.ok()) return impl_->config_error;
  const absl::Time deadline = DeadlineAfter(timeout);
  const absl::optional<std::string> pool_key = PoolKey(request.url());
  const bool replay_safe = IsReplaySafe(request);
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    impl_->Prepare(context, deadline, pool_key);
    FetchResponse response;
    auto stub = fetchpool::v1::FetchPool::NewStub(impl_->ChannelFor(pool_key));
    grpc::Status status = stub->Fetch(&context, request, &response);
    if (status.ok()) {
      impl_->budget.OnSuccess();
      return response;
    }
    absl::Status failure = StatusFromGrpc(status, context);
    absl::Duration sleep;
    if (!impl_->RetryAfter(failure, replay_safe, attempt, deadline, &sleep)) return failure;
    absl::SleepFor(sleep);
  }
}

absl::StatusOr<FetchResponse> Client::Fetch(const FetchRequest& request) {
  return Fetch(request, impl_->options.default_timeout);
}

PendingFetch Client::FetchAsync(const FetchRequest& request, FetchCallback done) {
  return FetchAsync(request, impl_->options.default_timeout, std::move(done));
}

absl::StatusOr<FetchResponse> Client::Get(absl::string_view url) {
  FetchRequest request;
  request.set_method("GET");
  request.set_url(std::string(url));
  return Fetch(request);
}

absl::StatusOr<StatsResponse> Client::Stats(absl::string_view host, absl::Duration timeout) {
  if (!impl_->config_error.ok()) return impl_->config_error;
  grpc::ClientContext context;
  impl_->Prepare(context, DeadlineAfter(timeout), absl::nullopt);
  StatsRequest request;
  request.set_host(std::string(host));
  StatsResponse response;
  grpc::Status status = fetchpool::v1::FetchPool::NewStub(impl_->channel)->Stats(&context, request, &response);
  if (!status.ok()) return StatusFromGrpc(status, context);
  return response;
}

absl::StatusOr<StatsResponse> Client::Stats(absl::string_view host) {
  return Stats(host, impl_->options.default_timeout);
}

std::unique_ptr<StatsWatch> Client::WatchStats(absl::string_view host, absl::Duration interval) {
  WatchStatsRequest request;
  request.set_host(std::string(host));
  if (interval == absl::InfiniteDuration() || interval == -absl::InfiniteDuration()) {
    // Sent as the largest duration so the server refuses it, as any other
    // interval out of range.
    request.mutable_interval()->set_seconds(interval > absl::ZeroDuration() ? kMaxDurationSeconds
                                                                            : -kMaxDurationSeconds);
  } else if (interval != absl::ZeroDuration()) {
    const int64_t seconds = absl::IDivDuration(interval, absl::Seconds(1), &interval);
    request.mutable_interval()->set_seconds(seconds);
    request.mutable_interval()->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(interval)));
  }
  // Not make_unique: the constructor is private to the client.
  auto watch = std::unique_ptr<StatsWatch>(new StatsWatch(impl_->channel, std::move(request)));
  if (!impl_->config_error.ok()) {
    // Never started: the first Next() returns false with the error.
    watch->status_ = impl_->config_error;
    watch->state_ = StatsWatch::State::kEnded;
    return watch;
  }
  if (!impl_->options.token.empty()) {
    watch->context_.AddMetadata("authorization", "Bearer " + impl_->options.token);
  }
  return watch;
}

std::unique_ptr<FetchStream> Client::OpenStream(size_t max_in_flight) {
  std::shared_ptr<Impl> impl = impl_;
  FetchStream::Router router = [impl](absl::string_view pool_key) -> FetchStream::Route {
    if (!impl->config_error.ok()) return {"", nullptr, impl->config_error};
    if (impl->replicas != nullptr && !pool_key.empty()) {
      std::string address = impl->replicas->AddressFor(pool_key);
      if (auto channel = impl->replicas->ChannelFor(pool_key)) return {std::move(address), channel, absl::OkStatus()};
    }
    return {"", impl->channel, absl::OkStatus()};
  };
  FetchStream::Decorate decorate = [impl](grpc::ClientContext& context) {
    if (!impl->options.token.empty()) context.AddMetadata("authorization", "Bearer " + impl->options.token);
  };
  return std::make_unique<FetchStream>(std::move(router), std::move(decorate), max_in_flight);
}

}  // namespace fetchpool
