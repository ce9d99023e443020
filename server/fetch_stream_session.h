#ifndef FETCHPOOL_SERVER_FETCH_STREAM_SESSION_H_
#define FETCHPOOL_SERVER_FETCH_STREAM_SESSION_H_

// No gRPC here: this is the FetchStream call's logic, kept apart from gRPC so
// that ThreadSanitizer can check it (tests/server/fetch_stream_session_test.cc;
// Debian's gRPC is not TSan-instrumented). server/fetch_stream_reactor.cc
// plugs it into a grpc::ServerBidiReactor.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include <google/protobuf/arena.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.pb.h"
#include "server/caller_scope.h"
#include "server/drain_registry.h"

namespace fetchpool {

// What a FetchStreamSession asks of its call: the operations of gRPC's
// ServerBidiReactor. The contract is gRPC's: an operation returns without
// calling back into the session; its completion arrives later, on any thread,
// as the matching session event (StartRead -> OnReadDone, StartWrite ->
// OnWriteDone). The session keeps at most one read and one write
// outstanding, and the objects it passes stay put until their completion.
class FetchStreamPort {
 public:
  virtual void StartRead(v1::FetchRequest* request) = 0;
  // `buffer_hint`: more answers are queued behind this one, so the transport
  // may hold it back to send them together.
  virtual void StartWrite(const v1::FetchResponse* response, bool buffer_hint) = 0;
  // Called once: OK, CANCELLED after OnCancel, or UNAVAILABLE /
  // SHUTTING_DOWN after Drain (with a read possibly still outstanding: gRPC
  // then completes it with !ok). Nothing else of the port is called
  // afterwards.
  virtual void Finish(const absl::Status& status) = 0;

 protected:
  ~FetchStreamPort() = default;
};

// One FetchStream call: many fetches over one bidirectional stream, answered
// in completion order and matched by id. Reads, write completions, the
// caller's cancel and fetch completions (engine loop thread) arrive on
// different threads, concurrently.
//
// Lifetime: the call's owner (the gRPC reactor) owns the session and the
// port and destroys both only after OnDone, which comes after Finish and
// after every event it delivered has returned. Finish is the session's last
// act: it is called once the reads are over, no fetch is running (so no
// engine callback can still reach the session) and nothing is left to write
// or being written, outside the lock and with nothing of the session touched
// after it, so the owner may destroy the session as soon as OnDone follows.
class FetchStreamSession final : public Drainable {
 public:
  // Fetches one stream may have running or waiting to be written at once.
  // Past it the session stops reading, so a fast caller is slowed by gRPC
  // flow control instead of growing our memory without bound. fetchpoold
  // passes --max_stream_inflight (ServerConfig::max_stream_inflight); this
  // default serves tests that build a session directly.
  static constexpr size_t kDefaultMaxInFlight = 4096;

  // `deadline`: the call's, on the engine's clock; every fetch gets it.
  // `scope`: who calls; every fetch carries its name and counts against
  // its quota.
  FetchStreamSession(Engine& engine, absl::Time deadline, FetchStreamPort* port,
                     size_t max_in_flight = kDefaultMaxInFlight, CallerScope scope = {});
  FetchStreamSession(const FetchStreamSession&) = delete;
  FetchStreamSession& operator=(const FetchStreamSession&) = delete;

  // Starts the first read.
  void Start();

  // gRPC's events.
  void OnReadDone(bool ok);  // !ok: the caller half-closed, or the call broke
  void OnWriteDone(bool ok);
  void OnCancel();
  // The call is over (after Finish): checks that nothing is left running.
  void OnDone();

  // The server drains (SIGTERM): stops reading, answers the fetches in
  // flight, then finishes UNAVAILABLE / SHUTTING_DOWN. A request whose read
  // was outstanding and completes anyway is answered SHUTTING_DOWN, unsent
  // upstream, while the call is still open; once it has finished, the
  // caller's SDK fails it with the call's status.
  void Drain() override;

  // A snapshot of the state, for tests and debugging.
  struct State {
    size_t running_fetches = 0;
    size_t queued_writes = 0;  // including the one being written
    bool reading = false;      // a read is outstanding
    bool read_paused = false;  // at the in-flight cap
    bool reads_done = false;
    bool writing = false;
    bool cancelled = false;
    bool broken = false;  // a write failed: answers are dropped
    bool draining = false;
    bool finished = false;
  };
  State GetState() const;

 private:
  // One answer to write, on an arena of its own whose first block is part of
  // it: building and freeing an answer costs one allocation instead of one
  // per header, string and timing message.
  class Answer {
   public:
    Answer();
    Answer(const Answer&) = delete;
    Answer& operator=(const Answer&) = delete;
    v1::FetchResponse& response() { return *response_; }
    // The body's share of the buffer budget: released when the answer has
    // been written (or dropped), with the Answer.
    BufferReservation buffer;

   private:
    static constexpr size_t kInitialBlockBytes = 2048;
    alignas(8) char initial_block_[kInitialBlockBytes];
    google::protobuf::Arena arena_;
    v1::FetchResponse* const response_;
  };

  void OnFetchDone(uint64_t seq, std::string id, const std::string& pool,
                   const std::string& trace_id,
                   absl::StatusOr<FetchResult> result);
  void QueueWriteLocked(std::unique_ptr<Answer> answer);
  void StartNextWriteLocked();
  void ReadNextLocked();
  void MaybeResumeReadingLocked();
  // Ends every event: once the reads are over, no fetch is running and
  // nothing is being written or (unless broken) left to write, unlocks and
  // calls the port's Finish, exactly once.
  void FinishIfReady(std::unique_lock<std::mutex>& lock);

  Engine& engine_;
  const absl::Time deadline_;
  FetchStreamPort* const port_;
  const size_t max_in_flight_;
  const CallerScope scope_;
  // gRPC reads into it, one read at a time: written by the port before
  // OnReadDone(true), read by OnReadDone before the next StartRead.
  v1::FetchRequest request_;

  // Protects everything below: reads, writes, cancels and fetch completions
  // arrive on different threads. Port calls that start an operation
  // (StartRead, StartWrite) are made under it; Finish is made without it.
  // Engine::Fetch/Cancel only post to the loop, so calling them under it
  // cannot deadlock with OnFetchDone.
  mutable std::mutex mu_;
  std::deque<std::unique_ptr<Answer>> writes_;  // front: being written
  // Running fetches by our sequence number; the engine's id, or 0 until
  // Engine::Fetch has returned it.
  absl::flat_hash_map<uint64_t, Engine::FetchId> running_;
  uint64_t next_seq_ = 1;
  bool reading_ = false;
  bool handling_read_ = false;  // OnReadDone(true) is starting a request
  bool writing_ = false;
  bool reads_done_ = false;
  bool read_paused_ = false;
  bool cancelled_ = false;
  bool broken_ = false;
  bool draining_ = false;
  bool finished_ = false;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_FETCH_STREAM_SESSION_H_
