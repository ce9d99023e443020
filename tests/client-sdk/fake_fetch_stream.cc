// The fake's FetchStream and the knobs the retry tests use.
#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/client-sdk/fake_fetchpool.h"

namespace fetchpool {
namespace testing {

using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;

void FakeFetchPoolService::FailNextFetches(int count, grpc::StatusCode code, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  fail_next_ = count;
  fail_code_ = code;
  fail_reason_ = reason;
}

std::string FakeFetchPoolService::last_pool_key() const {
  absl::MutexLock lock(&mu_);
  return last_pool_key_;
}

std::string FakeFetchPoolService::last_authorization() const {
  absl::MutexLock lock(&mu_);
  return last_authorization_;
}

void FakeFetchPoolService::ReleaseHeld() {
  absl::MutexLock lock(&mu_);
  released_ = true;
}

grpc::Status FakeFetchPoolService::FetchStream(
    grpc::ServerContext* context, grpc::ServerReaderWriter<FetchResponse, FetchRequest>* stream) {
  ++streams_opened_;
  absl::Mutex write_mu;
  std::atomic<bool> breaking{false};
  std::vector<std::thread> workers;
  grpc::Status end = grpc::Status::OK;
  FetchRequest request;
  while (stream->Read(&request)) {
    if (request.url() == kBreakStreamUrl) {
      end = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken on purpose by the fake");
      breaking = true;
      break;
    }
    workers.emplace_back([this, context, stream, &write_mu, &breaking, request] {
      if (request.url() == kHoldUrl) {
        ++held_;
        absl::MutexLock lock(&mu_);
        auto released = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return released_ || breaking.load() || context->IsCancelled();
        };
        while (!released()) mu_.AwaitWithTimeout(absl::Condition(&released_), absl::Milliseconds(5));
        --held_;
      }
      if (breaking.load()) return;
      FetchResponse response;
      if (request.url() == kRefusedUrl) {
        response.set_id(request.id());
        response.mutable_error()->set_code(grpc::StatusCode::UNAVAILABLE);
        response.mutable_error()->set_reason("CONNECT_REFUSED");
        response.mutable_error()->set_message(kRefusedMessage);
      } else {
        response.set_id(request.id());
        response.set_status(200);
        response.set_body(request.body());
        response.set_pool("http://origin.test:80");
      }
      absl::MutexLock lock(&write_mu);
      stream->Write(response);
    });
  }
  for (auto& worker : workers) worker.join();
  return end;
}

}  // namespace testing
}  // namespace fetchpool
