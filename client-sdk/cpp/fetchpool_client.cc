#include "client-sdk/cpp/fetchpool_client.h"

#include <utility>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace fetchpool {
namespace client {
namespace {

using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;
using fetchpool::v1::StatsRequest;
using fetchpool::v1::StatsResponse;
using fetchpool::v1::WatchStatsRequest;

// google.protobuf.Duration's range: about 10,000 years.
constexpr int64_t kMaxDurationSeconds = 315576000000;

void SetTimeout(grpc::ClientContext& context, absl::Duration timeout) {
  // No deadline at all rather than one at the far end of the clock: gRPC
  // treats both alike, but only this one is unambiguous.
  if (timeout == absl::InfiniteDuration()) return;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// Everything one FetchAsync call needs until its callback has run. gRPC's
// callback takes a copyable std::function, so the move-only user callback
// lives here and the std::function owns this, alone: handles only observe it.
struct AsyncFetchState {
  InFlightFetches::Registration registration;  // first, so destroyed last
  grpc::ClientContext context;
  FetchRequest request;
  FetchResponse response;
  FetchPoolClient::FetchCallback done;
};

}  // namespace

void PendingFetch::Cancel() const {
  if (auto context = context_.lock()) context->TryCancel();
}

std::shared_ptr<grpc::Channel> CreateFetchPoolChannel(absl::string_view target,
                                                      const FetchPoolClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_size);
  auto credentials = options.credentials != nullptr ? options.credentials : grpc::InsecureChannelCredentials();
  return grpc::CreateCustomChannel(std::string(target), credentials, args);
}

FetchPoolClient::FetchPoolClient(absl::string_view target, FetchPoolClientOptions options)
    : FetchPoolClient(CreateFetchPoolChannel(target, options), options) {}

FetchPoolClient::FetchPoolClient(std::shared_ptr<grpc::Channel> channel, FetchPoolClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(fetchpool::v1::FetchPool::NewStub(channel_)),
      in_flight_(std::make_shared<InFlightFetches>()) {}

FetchPoolClient::~FetchPoolClient() { in_flight_->CancelAllAndWait(); }

absl::StatusOr<FetchResponse> FetchPoolClient::Fetch(const FetchRequest& request, absl::Duration timeout) {
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  FetchResponse response;
  grpc::Status status = stub_->Fetch(&context, request, &response);
  if (!status.ok()) return StatusFromGrpc(status, context);
  return response;
}

absl::StatusOr<FetchResponse> FetchPoolClient::Fetch(const FetchRequest& request) {
  return Fetch(request, options_.default_timeout);
}

PendingFetch FetchPoolClient::FetchAsync(const FetchRequest& request, absl::Duration timeout,
                                         FetchCallback done) {
  auto state = std::make_shared<AsyncFetchState>();
  state->request = request;
  state->done = std::move(done);
  SetTimeout(state->context, timeout);
  std::weak_ptr<grpc::ClientContext> context(std::shared_ptr<grpc::ClientContext>(state, &state->context));
  in_flight_->Add(context, &state->registration);
  auto on_done = [state](grpc::Status status) {
    if (status.ok()) {
      state->done(std::move(state->response));
    } else {
      state->done(StatusFromGrpc(status, state->context));
    }
    // Release what the user's callback captured now, not with the state.
    state->done = nullptr;
  };
  stub_->async()->Fetch(&state->context, &state->request, &state->response, std::move(on_done));
  return PendingFetch(std::move(context));
}

PendingFetch FetchPoolClient::FetchAsync(const FetchRequest& request, FetchCallback done) {
  return FetchAsync(request, options_.default_timeout, std::move(done));
}

absl::StatusOr<FetchResponse> FetchPoolClient::Get(absl::string_view url) {
  FetchRequest request;
  request.set_method("GET");
  request.set_url(std::string(url));
  return Fetch(request);
}

absl::StatusOr<StatsResponse> FetchPoolClient::Stats(absl::string_view host, absl::Duration timeout) {
  grpc::ClientContext context;
  SetTimeout(context, timeout);
  StatsRequest request;
  request.set_host(std::string(host));
  StatsResponse response;
  grpc::Status status = stub_->Stats(&context, request, &response);
  if (!status.ok()) return StatusFromGrpc(status, context);
  return response;
}

absl::StatusOr<StatsResponse> FetchPoolClient::Stats(absl::string_view host) {
  return Stats(host, options_.default_timeout);
}

std::unique_ptr<StatsWatch> FetchPoolClient::WatchStats(absl::string_view host, absl::Duration interval) {
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
  return std::unique_ptr<StatsWatch>(new StatsWatch(channel_, std::move(request)));
}

}  // namespace client
}  // namespace fetchpool
