#ifndef FETCHPOOL_TESTS_SERVER_LIFECYCLE_CLIENT_UTIL_H_
#define FETCHPOOL_TESTS_SERVER_LIFECYCLE_CLIENT_UTIL_H_

// What drain_client and reload_client share: checks that count failures,
// the health probe, the load (raw unary fetches) and its tally.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fetchpool/client.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool::lifecycle {

// Records a failed check on stderr; Failures() counts them.
void Check(bool ok, const std::string& what);
int Failures();

// grpc.health.v1.Health/Check for service "" through the generic stub:
// 1 SERVING, 2 NOT_SERVING, 0 UNKNOWN, -1 when the call fails.
int HealthStatus(grpc::GenericStub& stub);

// GET http://ORIGIN/sleep?ms=MS.
v1::FetchRequest Sleep(const std::string& origin, int ms);

// How the fetches of a load ended.
struct Outcomes {
  absl::Mutex mu;
  int ok ABSL_GUARDED_BY(mu) = 0;
  int shutting_down ABSL_GUARDED_BY(mu) = 0;
  int aborted_after_send ABSL_GUARDED_BY(mu) = 0;
  int other ABSL_GUARDED_BY(mu) = 0;
  std::string first_other ABSL_GUARDED_BY(mu);
  int answered ABSL_GUARDED_BY(mu) = 0;

  // `reason`: the fetch's stable reason, when the caller read it already.
  void Add(const absl::StatusOr<v1::FetchResponse>& result, std::string reason = "");
  // Until `n` are answered or `limit` passes; whether they were.
  bool WaitForAnswers(int n, absl::Duration limit);
  std::string Tally();
};

// Unary fetches on the raw stub, each with its own deadline. Not the SDK's:
// it would retry those that fail SHUTTING_DOWN (never sent, so safe to send
// again), and with no other replica here the retry would only hide the
// answer under test.
class RawUnaryLoad {
 public:
  RawUnaryLoad(std::shared_ptr<grpc::Channel> channel, Outcomes* outcomes);
  void Start(const v1::FetchRequest& request, absl::Duration deadline);

 private:
  struct Call {
    grpc::ClientContext context;
    v1::FetchRequest request;
    v1::FetchResponse response;
  };
  std::unique_ptr<v1::FetchPool::Stub> stub_;
  Outcomes* const outcomes_;
  std::vector<std::unique_ptr<Call>> calls_;  // each lives until the load does
};

// Until the requests_total of every pool together reaches `n` (the fetches
// have all asked for a connection: they are in flight); whether it did.
bool WaitForRequests(Client& client, uint64_t n, absl::Duration limit);

}  // namespace fetchpool::lifecycle

#endif  // FETCHPOOL_TESTS_SERVER_LIFECYCLE_CLIENT_UTIL_H_
