#ifndef FETCHPOOL_BENCH_SOAK_UNARY_CALL_H_
#define FETCHPOOL_BENCH_SOAK_UNARY_CALL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "bench/soak/cancellable.h"
#include "bench/soak/routes.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool::soak {

// ---- unary Fetch -----------------------------------------------------------------

// Unary calls started and not yet answered (the scheduler caps them).
extern std::atomic<int64_t> unary_in_flight;

// One unary Fetch of a route; judged (JudgeFetch) when it is done. Keeps
// itself alive until OnDone.
class UnaryCall final : public grpc::ClientUnaryReactor,
                        public Cancellable,
                        public std::enable_shared_from_this<UnaryCall> {
 public:
  UnaryCall(const Route& route, Prepared p) : route_(route), p_(std::move(p)) {}

  void Start(fetchpool::v1::FetchPool::Stub* stub);
  void Cancel() override;
  void OnDone(const grpc::Status& status) override;

 private:
  const Route& route_;
  Prepared p_;
  fetchpool::v1::FetchResponse response_;
  grpc::ClientContext ctx_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> done_{false};
  std::shared_ptr<UnaryCall> self_;
};

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_UNARY_CALL_H_
