#ifndef FETCHPOOL_SERVER_FETCH_SESSION_H_
#define FETCHPOOL_SERVER_FETCH_SESSION_H_

// No gRPC here: this is the unary Fetch call's logic, kept apart from gRPC
// so that ThreadSanitizer can check it (tests/server/fetch_session_test.cc;
// Debian's gRPC is not TSan-instrumented). server/fetch_service.cc plugs it
// into a grpc::ServerUnaryReactor.

#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "fetchpool/v1/fetchpool.pb.h"
#include "server/caller_scope.h"

namespace fetchpool {

// What a FetchSession asks of its call: gRPC's ServerUnaryReactor::Finish.
class FetchCallPort {
 public:
  // Called once, from Start (a bad request) or from the engine's loop
  // thread: OK with the response filled, or the error to return.
  virtual void Finish(const absl::Status& status) = 0;

 protected:
  ~FetchCallPort() = default;
};

// One Fetch call: validates the request, hands it to the engine and answers
// when the engine calls back; a cancel from the caller, which may come
// before the engine's id for the fetch is known, cancels the fetch.
//
// Lifetime: the call's owner (the gRPC reactor) owns the session, the port
// and the response, and destroys the session only after Finish and after
// Start and OnCancel have returned (gRPC's OnDone). Finish is the session's
// last act on the engine's side: nothing of it is touched afterwards.
class FetchSession {
 public:
  // `response`: filled before Finish(OK). `scope`: who calls; the fetch
  // carries its name and counts against its quota.
  FetchSession(Engine& engine, FetchCallPort* port, v1::FetchResponse* response,
               CallerScope scope = {})
      : engine_(engine), port_(port), response_(response), scope_(std::move(scope)) {}
  FetchSession(const FetchSession&) = delete;
  FetchSession& operator=(const FetchSession&) = delete;

  // `deadline`: the call's, on the engine's clock. The request's body is
  // moved into the fetch (not copied); the rest of `request` is not changed.
  void Start(v1::FetchRequest* request, absl::Time deadline);
  // gRPC's event: the caller went away. Any thread, any time before OnDone.
  void OnCancel();

 private:
  void Complete(absl::StatusOr<FetchResult> result);  // engine loop thread

  Engine& engine_;
  FetchCallPort* const port_;
  v1::FetchResponse* const response_;
  const CallerScope scope_;
  std::string pool_;  // set by Start before the fetch begins; read by Complete
  std::string trace_id_;  // likewise: the W3C trace id sent upstream, for the error log

  // Protects the two fields below: Start and OnCancel run on different
  // threads, in either order.
  std::mutex mu_;
  Engine::FetchId fetch_id_ = 0;  // 0 until Engine::Fetch has returned
  bool cancelled_ = false;
  // The answer's share of the buffer budget: released with the session,
  // after gRPC has sent the response (OnDone), not when the engine answers.
  // Written on the loop thread before Finish, destroyed after OnDone.
  BufferReservation buffer_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_FETCH_SESSION_H_
