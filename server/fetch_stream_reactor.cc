#include "server/fetch_stream_reactor.h"

#include <deque>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pool/clock.h"
#include "pool/reason.h"
#include "server/call_deadline.h"
#include "server/fetch_response.h"
#include "server/request_validation.h"

namespace fetchpool {
namespace {

// Fetches one stream may have running at once. Past it the reactor stops
// reading, so a fast caller is slowed by gRPC flow control instead of
// growing our memory without bound.
constexpr size_t kMaxInFlightPerStream = 4096;

class FetchStreamReactor final : public grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse> {
 public:
  FetchStreamReactor(Engine& engine, grpc::CallbackServerContext* context)
      : engine_(engine), deadline_(CallDeadline(*context)) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the caller half-closed, or the call broke
      std::lock_guard<std::mutex> lock(mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    absl::StatusOr<FetchSpec> spec = ValidateFetchRequest(request_);
    if (!spec.ok()) {
      v1::FetchResponse response;
      response.set_id(request_.id());
      FillFetchError(spec.status(), &response);
      std::lock_guard<std::mutex> lock(mu_);
      QueueWriteLocked(std::move(response));
      ReadNextLocked();
      return;
    }
    spec->deadline = deadline_;
    std::string id = request_.id();
    uint64_t seq;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
      seq = next_seq_++;
      running_[seq] = 0;  // the engine's id is known once Fetch returns
    }
    const Engine::FetchId fetch_id = engine_.Fetch(
        *std::move(spec),
        [this, seq, id = std::move(id)](absl::StatusOr<FetchResult> result) mutable {
          OnFetchDone(seq, std::move(id), std::move(result));
        });
    std::lock_guard<std::mutex> lock(mu_);
    auto it = running_.find(seq);
    if (it != running_.end()) {  // not finished already
      it->second = fetch_id;
      if (cancelled_) engine_.Cancel(fetch_id);
    }
    ReadNextLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      broken_ = true;  // the caller is gone; answers have nowhere to go
      writes_.clear();
    } else {
      writes_.pop_front();
    }
    StartNextWriteLocked();
    // Reading may have paused at the in-flight cap.
    if (read_paused_ && in_flight_ + writes_.size() < kMaxInFlightPerStream) ReadNextLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    std::vector<Engine::FetchId> running;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      for (const auto& [seq, id] : running_) {
        if (id != 0) running.push_back(id);
      }
    }
    for (Engine::FetchId id : running) engine_.Cancel(id);
  }

  void OnDone() override { delete this; }

 private:
  // Runs on the engine's loop thread.
  void OnFetchDone(uint64_t seq, std::string id, absl::StatusOr<FetchResult> result) {
    v1::FetchResponse response;
    if (result.ok()) {
      FillFetchResponse(*std::move(result), &response);
    } else {
      FillFetchError(result.status(), &response);
    }
    response.set_id(std::move(id));
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(seq);
    --in_flight_;
    QueueWriteLocked(std::move(response));
    MaybeFinishLocked();
  }

  void QueueWriteLocked(v1::FetchResponse response) {
    if (broken_) return;
    writes_.push_back(std::move(response));
    StartNextWriteLocked();
  }

  void StartNextWriteLocked() {
    if (writing_ || writes_.empty() || broken_) return;
    writing_ = true;
    // With more answers queued, let gRPC batch this one with the next
    // instead of flushing a frame per answer.
    grpc::WriteOptions options;
    if (writes_.size() > 1) options.set_buffer_hint();
    StartWrite(&writes_.front(), options);  // deque: the element stays put until popped
  }

  void ReadNextLocked() {
    if (reads_done_ || cancelled_) return;
    if (in_flight_ + writes_.size() >= kMaxInFlightPerStream) {
      read_paused_ = true;
      return;
    }
    read_paused_ = false;
    StartRead(&request_);
  }

  // Finish once nothing can still call us: reads over, no fetch running,
  // nothing left to write.
  void MaybeFinishLocked() {
    if (finished_ || !reads_done_ || in_flight_ != 0 || writing_) return;
    if (!writes_.empty() && !broken_) return;
    finished_ = true;
    Finish(cancelled_ ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  Engine& engine_;
  const absl::Time deadline_;
  v1::FetchRequest request_;  // gRPC reads into it; one read at a time

  // Protects everything below: reads, writes and fetch completions arrive
  // on different threads.
  std::mutex mu_;
  std::deque<v1::FetchResponse> writes_;
  absl::flat_hash_map<uint64_t, Engine::FetchId> running_;  // by our sequence number
  uint64_t next_seq_ = 1;
  size_t in_flight_ = 0;
  bool writing_ = false;
  bool reads_done_ = false;
  bool read_paused_ = false;
  bool cancelled_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::FetchRequest, v1::FetchResponse>* StartFetchStream(
    Engine& engine, grpc::CallbackServerContext* context) {
  return new FetchStreamReactor(engine, context);
}

}  // namespace fetchpool
