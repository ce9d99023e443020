// Client::FetchAsync: the retry loop of Fetch, driven by gRPC's callbacks
// instead of a blocked thread.
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "client-sdk/cpp/client_impl.h"
#include "client-sdk/cpp/client_status.h"
#include "fetchpool/client.h"

namespace fetchpool {

using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;

// Everything one FetchAsync call needs until its callback has run. gRPC's
// callback takes a copyable std::function, so the move-only user callback
// lives here; the pending attempt (or the retry sleep) owns this, handles
// only observe it.
class AsyncFetch : public std::enable_shared_from_this<AsyncFetch> {
 public:
  AsyncFetch(std::shared_ptr<Client::Impl> impl, const FetchRequest& request, absl::Duration timeout,
             Client::FetchCallback done)
      : impl_(std::move(impl)),
        request_(request),
        pool_key_(PoolKey(request.url())),
        replay_safe_(IsReplaySafe(request)),
        deadline_(DeadlineAfter(timeout)),
        done_(std::move(done)) {}

  InFlightFetches::Registration* registration() { return &registration_; }

  void StartAttempt() {
    grpc::ClientContext* context = nullptr;
    fetchpool::v1::FetchPool::Stub* stub = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (!cancelled_) {
        ++attempt_;
        // Each attempt needs its own context; the finished ones stay until
        // the state goes, as gRPC may still look at them during the callback.
        contexts_.push_back(std::make_unique<grpc::ClientContext>());
        context = contexts_.back().get();
        stubs_.push_back(fetchpool::v1::FetchPool::NewStub(impl_->ChannelFor(pool_key_)));
      stub = stubs_.back().get();
      }
    }
    if (stub == nullptr) {
      Finish(absl::CancelledError("cancelled by the caller"));
      return;
    }
    impl_->Prepare(*context, deadline_, pool_key_);
    response_.Clear();
    auto self = shared_from_this();
    stub->async()->Fetch(context, &request_, &response_,
                         [self, context](grpc::Status status) { self->OnAttemptDone(*context, status); });
  }

  void Cancel() {
    grpc::ClientContext* current = nullptr;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;  // also wakes a retry sleep
      if (!contexts_.empty()) current = contexts_.back().get();
    }
    if (current != nullptr) current->TryCancel();
  }

 private:
  void OnAttemptDone(grpc::ClientContext& context, const grpc::Status& status) {
    if (status.ok()) {
      impl_->budget.OnSuccess();
      Finish(std::move(response_));
      return;
    }
    absl::Status failure = StatusFromGrpc(status, context);
    absl::Duration sleep;
    if (!impl_->RetryAfter(failure, replay_safe_, attempt_, deadline_, &sleep)) {
      Finish(std::move(failure));
      return;
    }
    // A thread of its own for the sleep, not gRPC's callback thread, which
    // other calls need; retries are rare by design (the budget).
    std::thread([self = shared_from_this(), sleep, failure]() {
      {
        absl::MutexLock lock(&self->mu_);
        self->mu_.AwaitWithTimeout(absl::Condition(&self->cancelled_), sleep);
      }
      self->StartAttempt();
    }).detach();
  }

  void Finish(absl::StatusOr<FetchResponse> result) {
    Client::FetchCallback done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(result));
  }

  InFlightFetches::Registration registration_;  // first, so destroyed last
  std::shared_ptr<Client::Impl> impl_;
  const FetchRequest request_;
  const absl::optional<std::string> pool_key_;
  const bool replay_safe_;
  const absl::Time deadline_;
  Client::FetchCallback done_;  // touched by one attempt's thread at a time
  FetchResponse response_;
  int attempt_ = 0;
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<fetchpool::v1::FetchPool::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

PendingFetch Client::FetchAsync(const FetchRequest& request, absl::Duration timeout, FetchCallback done) {
  if (!impl_->config_error.ok()) {
    done(impl_->config_error);
    return PendingFetch();
  }
  auto state = std::make_shared<AsyncFetch>(impl_, request, timeout, std::move(done));
  std::weak_ptr<AsyncFetch> weak = state;
  auto cancel = [weak]() {
    if (auto call = weak.lock()) call->Cancel();
  };
  impl_->in_flight->Add(cancel, state->registration());
  state->StartAttempt();
  return PendingFetch(std::move(cancel));
}

}  // namespace fetchpool
