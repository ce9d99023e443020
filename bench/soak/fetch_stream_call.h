#ifndef FETCHPOOL_BENCH_SOAK_FETCH_STREAM_CALL_H_
#define FETCHPOOL_BENCH_SOAK_FETCH_STREAM_CALL_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "bench/soak/routes.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool::soak {

// ---- FetchStream ----------------------------------------------------------------

// One FetchStream: the scheduler sends fetches (at most `window` in flight)
// until the stream's lifetime is up, then closes it, or cancels it mid-way.
// Each answer is matched to its fetch by id and judged (JudgeFetch); fetches
// still open when the stream ends are answered by its end. Keeps itself alive
// until OnDone.
class StreamCall final : public grpc::ClientBidiReactor<fetchpool::v1::FetchRequest, fetchpool::v1::FetchResponse>,
                         public std::enable_shared_from_this<StreamCall> {
 public:
  StreamCall(int serial, absl::Duration lifetime, bool cancel_midway, int window)
      : serial_(serial), lifetime_(lifetime), cancel_midway_(cancel_midway), window_(window) {}

  void Start(fetchpool::v1::FetchPool::Stub* stub);

  absl::Time ends_at() const { return ends_at_; }
  bool cancel_midway() const { return cancel_midway_; }

  // Scheduler thread, before Close/Cancel only. Returns false when the window is full.
  bool Send(std::mt19937_64& rng, const Route& route);
  // Scheduler thread, once: no more sends; half-close when the queue is out.
  void Close();
  // Scheduler thread, once, instead of Close: the caller gives up mid-way.
  void Cancel();

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  bool NextWriteLocked();
  bool CloseLocked();

  const int serial_;
  const absl::Duration lifetime_;
  const bool cancel_midway_;
  const int window_;
  absl::Time started_at_, ends_at_;
  grpc::ClientContext ctx_;
  fetchpool::v1::FetchResponse read_;
  fetchpool::v1::FetchRequest current_;
  std::mutex mu_;
  std::deque<fetchpool::v1::FetchRequest> queue_;
  std::map<std::string, std::pair<const Route*, Prepared>> outstanding_;
  bool writing_ = false, closing_ = false, cancelled_ = false, broken_ = false, writes_done_ = false;
  std::shared_ptr<StreamCall> self_;
};

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_FETCH_STREAM_CALL_H_
