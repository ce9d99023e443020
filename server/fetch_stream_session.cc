#include "server/fetch_stream_session.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "common/reason.h"
#include "server/fetch_response.h"
#include "server/request_validation.h"

namespace fetchpool {

FetchStreamSession::Answer::Answer()
    : arena_(ArenaOptionsWithFirstBlock(initial_block_, kInitialBlockBytes)),
      response_(google::protobuf::Arena::CreateMessage<v1::FetchResponse>(&arena_)) {}

FetchStreamSession::FetchStreamSession(Engine& engine, absl::Time deadline, FetchStreamPort* port,
                                       size_t max_in_flight, CallerScope scope)
    : engine_(engine),
      deadline_(deadline),
      port_(port),
      max_in_flight_(max_in_flight == 0 ? 1 : max_in_flight),
      scope_(std::move(scope)) {}

void FetchStreamSession::Start() {
  std::unique_lock<std::mutex> lock(mu_);
  ReadNextLocked();
  FinishIfReady(lock);
}

void FetchStreamSession::OnReadDone(bool ok) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!ok || draining_) {
      reading_ = false;
      reads_done_ = true;
      // Read after the drain began: not started, so the caller may send it
      // to another replica.
      if (ok && !finished_) {
        auto answer = std::make_unique<Answer>();
        answer->response().set_id(request_.id());
        FillFetchError(MakeError(Reason::kShuttingDown,
                                 "fetchpoold is draining; send this fetch to another replica"),
                       &answer->response());
        QueueWriteLocked(std::move(answer));
      }
      FinishIfReady(lock);
      return;
    }
    // Until the request is started (or refused) below: a Drain meanwhile
    // must not finish the call under it.
    handling_read_ = true;
  }
  // request_ is ours until the next StartRead, which only this call makes;
  // its body moves into the fetch (its id stays for the lines below).
  absl::StatusOr<FetchSpec> spec = ValidateFetchRequestTakingBody(&request_);
  std::string trace_id;
  if (!spec.ok()) {
    scope_.Count("", spec.status());
  } else {
    TraceFetch(scope_.trace, &*spec);
    trace_id = spec->trace_id;
    if (absl::Status admitted = scope_.BeginFetch(); !admitted.ok()) {
      scope_.Count(spec->pool_key, admitted, trace_id);  // over quota: the engine never sees it
      spec = admitted;
    }
  }
  if (!spec.ok()) {
    auto answer = std::make_unique<Answer>();
    answer->response().set_id(request_.id());
    answer->response().set_trace_id(trace_id);
    FillFetchError(spec.status(), &answer->response());
    std::unique_lock<std::mutex> lock(mu_);
    reading_ = false;
    handling_read_ = false;
    QueueWriteLocked(std::move(answer));
    ReadNextLocked();
    FinishIfReady(lock);
    return;
  }
  spec->deadline = deadline_;
  spec->caller = scope_.caller;
  std::string id = request_.id();
  std::string pool = spec->pool_key;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = next_seq_++;
    running_[seq] = 0;  // the engine's id is known once Fetch returns
  }
  // The fetch may finish (OnFetchDone, loop thread) before Fetch returns:
  // running_ then no longer holds seq. Until reads are over the session
  // cannot finish, so it stays alive for the lines below.
  const Engine::FetchId fetch_id =
      engine_.Fetch(*std::move(spec),
                    [this, seq, id = std::move(id), pool = std::move(pool),
                     trace_id = std::move(trace_id)](absl::StatusOr<FetchResult> result) mutable {
                      OnFetchDone(seq, std::move(id), pool, trace_id, std::move(result));
                    });
  std::unique_lock<std::mutex> lock(mu_);
  reading_ = false;
  handling_read_ = false;
  auto it = running_.find(seq);
  if (it != running_.end()) {  // not finished already
    it->second = fetch_id;
    if (cancelled_) engine_.Cancel(fetch_id);  // OnCancel did not know this id
  }
  ReadNextLocked();
  FinishIfReady(lock);
}

void FetchStreamSession::OnWriteDone(bool ok) {
  std::unique_lock<std::mutex> lock(mu_);
  writing_ = false;
  if (!ok) {
    broken_ = true;  // the caller is gone; answers have nowhere to go
    writes_.clear();
  } else {
    writes_.pop_front();
  }
  StartNextWriteLocked();
  MaybeResumeReadingLocked();
  FinishIfReady(lock);
}

void FetchStreamSession::OnCancel() {
  std::unique_lock<std::mutex> lock(mu_);
  cancelled_ = true;
  // Each cancelled fetch still completes (CANCELLED) through OnFetchDone.
  // A fetch whose id is not known yet is cancelled by OnReadDone.
  for (const auto& [seq, fetch_id] : running_) {
    if (fetch_id != 0) engine_.Cancel(fetch_id);
  }
  // Reading paused at the cap will not resume: reads are over.
  MaybeResumeReadingLocked();
  FinishIfReady(lock);
}

void FetchStreamSession::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  if (finished_ || draining_) return;
  draining_ = true;
  // No read starts again. One outstanding completes later (OnReadDone); the
  // call may finish before it does, which ends it.
  reads_done_ = true;
  read_paused_ = false;
  FinishIfReady(lock);
}

void FetchStreamSession::OnDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!finished_ || !running_.empty() || reading_ || writing_) {
    // The owner is about to destroy the session while something can still
    // reach it: stop here rather than let a callback use freed memory.
    std::fprintf(stderr,
                 "FetchStreamSession::OnDone: finished=%d running=%zu reading=%d writing=%d\n",
                 finished_, running_.size(), reading_, writing_);
    std::abort();
  }
}

FetchStreamSession::State FetchStreamSession::GetState() const {
  std::lock_guard<std::mutex> lock(mu_);
  State s;
  s.running_fetches = running_.size();
  s.queued_writes = writes_.size();
  s.reading = reading_;
  s.read_paused = read_paused_;
  s.reads_done = reads_done_;
  s.writing = writing_;
  s.cancelled = cancelled_;
  s.broken = broken_;
  s.draining = draining_;
  s.finished = finished_;
  return s;
}

// Runs on the engine's loop thread.
void FetchStreamSession::OnFetchDone(uint64_t seq, std::string id, const std::string& pool,
                                     const std::string& trace_id,
                                     absl::StatusOr<FetchResult> result) {
  scope_.EndFetch(pool, result.status(), trace_id);
  auto answer = std::make_unique<Answer>();
  v1::FetchResponse& response = answer->response();
  if (result.ok()) {
    answer->buffer = std::move(result->buffer);
    FillFetchResponse(*std::move(result), &response);
  } else {
    FillFetchError(result.status(), &response);
  }
  response.set_id(std::move(id));
  response.set_trace_id(trace_id);
  std::unique_lock<std::mutex> lock(mu_);
  running_.erase(seq);
  QueueWriteLocked(std::move(answer));
  MaybeResumeReadingLocked();  // a broken stream drops the answer: room again
  FinishIfReady(lock);
}

void FetchStreamSession::QueueWriteLocked(std::unique_ptr<Answer> answer) {
  if (broken_) return;
  writes_.push_back(std::move(answer));
  StartNextWriteLocked();
}

void FetchStreamSession::StartNextWriteLocked() {
  if (writing_ || writes_.empty() || broken_) return;
  writing_ = true;
  // With more answers queued, let gRPC batch this one with the next instead
  // of flushing a frame per answer.
  port_->StartWrite(&writes_.front()->response(), /*buffer_hint=*/writes_.size() > 1);
}

// Only with no read outstanding and reads not over.
void FetchStreamSession::ReadNextLocked() {
  if (reads_done_) return;
  read_paused_ = false;
  if (cancelled_) {
    // Nothing more is read from a cancelled call; without this the call
    // would wait for a read that is never started and never finish.
    reads_done_ = true;
    return;
  }
  if (running_.size() + writes_.size() >= max_in_flight_) {
    read_paused_ = true;
    return;
  }
  reading_ = true;
  port_->StartRead(&request_);
}

void FetchStreamSession::MaybeResumeReadingLocked() {
  if (!read_paused_) return;
  if (cancelled_ || running_.size() + writes_.size() < max_in_flight_) ReadNextLocked();
}

void FetchStreamSession::FinishIfReady(std::unique_lock<std::mutex>& lock) {
  if (finished_ || !reads_done_ || handling_read_ || !running_.empty() || writing_) return;
  if (!writes_.empty() && !broken_) return;
  finished_ = true;
  absl::Status status = absl::OkStatus();
  if (cancelled_) {
    status = absl::CancelledError("");
  } else if (draining_) {
    status = MakeError(Reason::kShuttingDown,
                       "fetchpoold is draining: every fetch read on this stream was answered; "
                       "open a new stream (another replica)");
  }
  FetchStreamPort* const port = port_;
  lock.unlock();
  // The last thing the session does: from here on the owner may destroy it.
  port->Finish(status);
}

}  // namespace fetchpool
