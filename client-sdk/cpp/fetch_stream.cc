#include "fetchpool/fetch_stream.h"

#include <deque>
#include <map>
#include <utility>
#include <vector>

#include <grpcpp/support/client_callback.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client-sdk/cpp/client_status.h"
#include "fetchpool/pool_key.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool {
namespace {

using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;

absl::StatusOr<FetchResponse> ResultOf(FetchResponse response) {
  if (response.has_error() && response.error().code() != 0) {
    return StatusWithReason(response.error().code(), response.error().message(), response.error().reason());
  }
  return response;
}

}  // namespace

// One FetchStream call. Lives from Start() until gRPC's OnDone, holding
// itself; FetchStream::Impl outlives it (Close waits for every OnDone).
class StreamCall : public grpc::ClientBidiReactor<FetchRequest, FetchResponse>,
                   public std::enable_shared_from_this<StreamCall> {
 public:
  enum class Enqueued { kSent, kDuplicateId, kClosed };

  StreamCall(FetchStream::Impl* owner, std::shared_ptr<grpc::Channel> channel)
      : owner_(owner), stub_(fetchpool::v1::FetchPool::NewStub(std::move(channel))) {}

  grpc::ClientContext& context() { return context_; }

  void Start() {
    self_ = shared_from_this();
    stub_->async()->FetchStream(&context_, this);
    // Writes start on the caller's thread, outside any reaction. gRPC runs
    // OnDone as soon as no operation is outstanding, and a StartWrite after
    // that touches a finished call: the hold keeps the call open for as long
    // as a write may still start (see TakeHoldLocked).
    AddHold();
    StartRead(&read_);
    StartCall();
    started_.Notify();
  }

  // Queues `request` for sending; kClosed when this call is broken or
  // half-closed (the caller opens another).
  // Takes `done` only when it returns kSent.
  Enqueued Enqueue(const FetchRequest& request, FetchStream::Callback& done) {
    started_.WaitForNotification();  // no write before the call exists
    {
      absl::MutexLock lock(&mu_);
      if (ended_ || closing_ || no_more_writes_) return Enqueued::kClosed;
      if (!pending_.try_emplace(request.id(), std::move(done)).second) return Enqueued::kDuplicateId;
      queue_.push_back(request);
      if (writing_) return Enqueued::kSent;
      writing_ = true;
      write_ = std::move(queue_.front());
      queue_.pop_front();
    }
    // Unlocked: gRPC may run a reaction inline.
    StartWrite(&write_);
    return Enqueued::kSent;
  }

  // Half-closes once every queued request is written.
  void HalfClose() {
    bool writes_done = false;
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      if (!writing_ && !no_more_writes_) writes_done = no_more_writes_ = true;
      release = TakeHoldLocked();
    }
    if (writes_done) StartWritesDone();
    if (release) RemoveHold();
  }

  void OnWriteDone(bool ok) override {
    bool write_next = false;
    bool writes_done = false;
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      if (ok && !queue_.empty() && !no_more_writes_) {
        write_ = std::move(queue_.front());
        queue_.pop_front();
        write_next = true;
      } else {
        writing_ = false;
        // !ok: the call is broken, OnDone follows.
        if (!ok) no_more_writes_ = true;
        if (closing_ && !no_more_writes_) writes_done = no_more_writes_ = true;
        release = TakeHoldLocked();
      }
    }
    if (write_next) StartWrite(&write_);
    if (writes_done) StartWritesDone();
    if (release) RemoveHold();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the call ended: OnDone follows once the hold is gone
      bool release = false;
      {
        absl::MutexLock lock(&mu_);
        no_more_writes_ = true;
        release = TakeHoldLocked();
      }
      if (release) RemoveHold();
      return;
    }
    FetchStream::Callback done;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.find(read_.id());
      if (it != pending_.end()) {
        done = std::move(it->second);
        pending_.erase(it);
      }
    }
    FetchResponse answer = std::move(read_);
    StartRead(&read_);
    if (done) Deliver(std::move(done), ResultOf(std::move(answer)));
  }

  void OnDone(const grpc::Status& status) override;

 private:
  void Deliver(FetchStream::Callback done, absl::StatusOr<FetchResponse> result);

  // True exactly once: when no write will start again and none is in
  // flight, the caller must RemoveHold() (after any StartWritesDone).
  bool TakeHoldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (hold_released_ || writing_ || !no_more_writes_) return false;
    hold_released_ = true;
    return true;
  }

  FetchStream::Impl* const owner_;
  std::unique_ptr<fetchpool::v1::FetchPool::Stub> stub_;
  grpc::ClientContext context_;
  FetchResponse read_;
  FetchRequest write_;
  std::shared_ptr<StreamCall> self_;
  absl::Notification started_;
  absl::Mutex mu_;
  std::deque<FetchRequest> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, FetchStream::Callback> pending_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  // Set when WritesDone is sent, or a read or a write failed: Enqueue
  // refuses, and the hold goes once the write in flight is done.
  bool no_more_writes_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

struct FetchStream::Impl {
  Router router;
  Decorate decorate;
  size_t max_in_flight;
  absl::Mutex mu;
  size_t in_flight ABSL_GUARDED_BY(mu) = 0;
  uint64_t next_id ABSL_GUARDED_BY(mu) = 0;
  size_t live_calls ABSL_GUARDED_BY(mu) = 0;
  // The open call of each route.
  std::map<std::string, std::shared_ptr<StreamCall>> calls ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<StreamCall>> ended ABSL_GUARDED_BY(mu);

  void Release() {
    absl::MutexLock lock(&mu);
    --in_flight;
  }

  // Keeps the ended call until Close, so its context (and the reference to
  // the channel in it) goes on the caller's thread, never on gRPC's: gRPC
  // 1.51 crashes when a channel's last reference drops on a callback thread
  // (grpc/grpc#32584).
  void CallEnded(std::shared_ptr<StreamCall> call) {
    absl::MutexLock lock(&mu);
    for (auto it = calls.begin(); it != calls.end(); ++it) {
      if (it->second == call) {
        calls.erase(it);
        break;
      }
    }
    ended.push_back(std::move(call));
    --live_calls;
  }
};

void StreamCall::Deliver(FetchStream::Callback done, absl::StatusOr<FetchResponse> result) {
  // Released first, so a Submit blocked on back-pressure goes on at once.
  owner_->Release();
  done(std::move(result));
}

void StreamCall::OnDone(const grpc::Status& status) {
  absl::flat_hash_map<std::string, FetchStream::Callback> unanswered;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    unanswered.swap(pending_);
  }
  absl::Status failure = StatusFromGrpc(status, context_);
  if (failure.ok()) failure = absl::UnavailableError("the FetchStream ended before answering this fetch");
  for (auto& [id, done] : unanswered) Deliver(std::move(done), failure);
  // Last: Close may free this as soon as the call is counted as ended.
  owner_->CallEnded(std::move(self_));
}

FetchStream::FetchStream(Router router, Decorate decorate, size_t max_in_flight)
    : impl_(std::make_shared<Impl>()) {
  impl_->router = std::move(router);
  impl_->decorate = std::move(decorate);
  impl_->max_in_flight = max_in_flight == 0 ? 1 : max_in_flight;
}

FetchStream::~FetchStream() { Close(); }

size_t FetchStream::in_flight() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->in_flight;
}

std::future<absl::StatusOr<FetchResponse>> FetchStream::Submit(FetchRequest request) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<FetchResponse>>>();
  auto future = promise->get_future();
  Submit(std::move(request), [promise](absl::StatusOr<FetchResponse> result) {
    promise->set_value(std::move(result));
  });
  return future;
}

void FetchStream::Submit(FetchRequest request, Callback done) {
  Impl& impl = *impl_;
  const std::string pool_key = PoolKey(request.url()).value_or("");
  Route route = impl.router(pool_key);
  if (route.channel == nullptr) {
    done(!route.error.ok() ? route.error
                           : absl::UnavailableError("no fetchpoold address to open a FetchStream to"));
    return;
  }
  {
    absl::MutexLock lock(&impl.mu);
    if (request.id().empty()) request.set_id(absl::StrCat("fs-", impl.next_id++));
    impl.mu.Await(absl::Condition(
        +[](Impl* i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i->mu) { return i->in_flight < i->max_in_flight; }, &impl));
    ++impl.in_flight;
  }
  for (;;) {
    std::shared_ptr<StreamCall> call;
    bool opened = false;
    {
      absl::MutexLock lock(&impl.mu);
      std::shared_ptr<StreamCall>& slot = impl.calls[route.key];
      if (slot == nullptr) {
        slot = std::make_shared<StreamCall>(&impl, route.channel);
        ++impl.live_calls;
        opened = true;
      }
      call = slot;
    }
    if (opened) {
      if (!pool_key.empty()) call->context().AddMetadata(std::string(kPoolKeyMetadataKey), pool_key);
      if (impl.decorate) impl.decorate(call->context());
      call->Start();
    }
    switch (call->Enqueue(request, done)) {
      case StreamCall::Enqueued::kSent:
        return;
      case StreamCall::Enqueued::kDuplicateId:
        impl.Release();
        done(absl::InvalidArgumentError(absl::StrCat("id ", request.id(), " is already unanswered on this stream")));
        return;
      case StreamCall::Enqueued::kClosed: {
        // Broken or closing: forget it, open another.
        absl::MutexLock lock(&impl.mu);
        auto it = impl.calls.find(route.key);
        if (it != impl.calls.end() && it->second == call) impl.calls.erase(it);
        break;
      }
    }
  }
}

void FetchStream::Close() {
  std::vector<std::shared_ptr<StreamCall>> open;
  {
    absl::MutexLock lock(&impl_->mu);
    for (auto& [key, call] : impl_->calls) open.push_back(call);
    impl_->calls.clear();
  }
  for (auto& call : open) call->HalfClose();
  open.clear();
  std::vector<std::shared_ptr<StreamCall>> ended;
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->mu.Await(absl::Condition(
        +[](Impl* i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(i->mu) { return i->live_calls == 0; }, impl_.get()));
    ended.swap(impl_->ended);
  }
}

}  // namespace fetchpool
