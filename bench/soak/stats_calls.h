#ifndef FETCHPOOL_BENCH_SOAK_STATS_CALLS_H_
#define FETCHPOOL_BENCH_SOAK_STATS_CALLS_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "bench/soak/cancellable.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool::soak {

// ---- Stats and WatchStats ---------------------------------------------------------

// One Stats call of the load (for every pool, or for one host); its answer
// goes through CheckStats. Keeps itself alive until OnDone.
class StatsCall final : public grpc::ClientUnaryReactor,
                        public Cancellable,
                        public std::enable_shared_from_this<StatsCall> {
 public:
  explicit StatsCall(std::string host) { request_.set_host(std::move(host)); }
  void Start(fetchpool::v1::FetchPool::Stub* stub);
  void Cancel() override;
  void OnDone(const grpc::Status& status) override;

 private:
  fetchpool::v1::StatsRequest request_;
  fetchpool::v1::StatsResponse response_;
  grpc::ClientContext ctx_;
  std::atomic<bool> cancelled_{false}, done_{false};
  std::shared_ptr<StatsCall> self_;
};

// One WatchStats stream: every message goes through CheckStats; it ends by
// the scheduler's cancel at ends_at(), or (`by_deadline`) by its own deadline.
// Keeps itself alive until OnDone.
class WatchCall final : public grpc::ClientReadReactor<fetchpool::v1::StatsResponse>,
                        public std::enable_shared_from_this<WatchCall> {
 public:
  WatchCall(absl::Duration interval, absl::Duration lifetime, bool by_deadline, std::string host);
  void Start(fetchpool::v1::FetchPool::Stub* stub);
  absl::Time ends_at() const { return started_at_ + lifetime_; }
  bool by_deadline() const { return by_deadline_; }
  bool done() const { return done_.load(); }
  void Cancel();
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  const absl::Duration interval_, lifetime_;
  const bool by_deadline_;
  fetchpool::v1::WatchStatsRequest request_;
  fetchpool::v1::StatsResponse response_;
  grpc::ClientContext ctx_;
  absl::Time started_at_;
  int64_t messages_ = 0;
  std::atomic<bool> cancelled_{false}, done_{false};
  std::shared_ptr<WatchCall> self_;
};

// A blocking Stats call for every pool (the sampler's, the settle check's).
bool SyncStats(fetchpool::v1::FetchPool::Stub* stub, fetchpool::v1::StatsResponse* r, absl::Duration timeout);

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_STATS_CALLS_H_
