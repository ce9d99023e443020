#include "tests/server/lifecycle/client_util.h"

#include <cstdio>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fetchpool/error_reason.h"

namespace fetchpool::lifecycle {
namespace {

int failures = 0;

}  // namespace

void Check(bool ok, const std::string& what) {
  if (ok) return;
  ++failures;
  std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

int Failures() { return failures; }

int HealthStatus(grpc::GenericStub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  grpc::ByteBuffer request(nullptr, 0);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status s) { done.set_value(std::move(s)); });
  if (!done.get_future().get().ok()) return -1;
  grpc::Slice slice;
  if (!response.DumpToSingleSlice(&slice).ok()) return -1;
  // HealthCheckResponse: `status` is field 1, a varint; UNKNOWN (0), the
  // default, is not sent at all.
  if (slice.size() == 0) return 0;
  if (slice.size() != 2 || slice.begin()[0] != 0x08) return -1;
  return slice.begin()[1];
}

v1::FetchRequest Sleep(const std::string& origin, int ms) {
  v1::FetchRequest request;
  request.set_url(absl::StrCat("http://", origin, "/sleep?ms=", ms));
  return request;
}

void Outcomes::Add(const absl::StatusOr<v1::FetchResponse>& result, std::string reason) {
  if (!result.ok() && reason.empty()) reason = ErrorReason(result.status());
  const bool unavailable = !result.ok() && result.status().code() == absl::StatusCode::kUnavailable;
  absl::MutexLock lock(&mu);
  ++answered;
  if (result.ok() && result->status() == 200) {
    ++ok;
  } else if (unavailable && reason == "SHUTTING_DOWN") {
    ++shutting_down;
  } else if (unavailable && reason == "ABORTED_AFTER_SEND") {
    ++aborted_after_send;
  } else {
    ++other;
    if (first_other.empty()) {
      first_other =
          result.ok() ? absl::StrCat("HTTP ", result->status()) : result.status().ToString();
    }
  }
}

bool Outcomes::WaitForAnswers(int n, absl::Duration limit) {
  auto all = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return answered >= n; };
  absl::MutexLock lock(&mu);
  return mu.AwaitWithTimeout(absl::Condition(&all), limit);
}

std::string Outcomes::Tally() {
  absl::MutexLock lock(&mu);
  return absl::StrCat(ok, " OK, ", shutting_down, " SHUTTING_DOWN, ", aborted_after_send,
                      " ABORTED_AFTER_SEND, ", other, " other (", first_other, ") of ", answered,
                      " answered");
}

RawUnaryLoad::RawUnaryLoad(std::shared_ptr<grpc::Channel> channel, Outcomes* outcomes)
    : stub_(v1::FetchPool::NewStub(std::move(channel))), outcomes_(outcomes) {}

void RawUnaryLoad::Start(const v1::FetchRequest& request, absl::Duration deadline) {
  auto call = std::make_unique<Call>();
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  call->request = request;
  Call* c = call.get();
  calls_.push_back(std::move(call));
  stub_->async()->Fetch(&c->context, &c->request, &c->response, [c, this](grpc::Status status) {
    if (status.ok()) {
      outcomes_->Add(c->response);
      return;
    }
    // The reason, as the SDKs read it: the fetchpool-reason trailer.
    std::string reason;
    for (const auto& [key, value] : c->context.GetServerTrailingMetadata()) {
      if (key == "fetchpool-reason") reason.assign(value.data(), value.size());
    }
    outcomes_->Add(absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                status.error_message()),
                   reason);
  });
}

bool WaitForRequests(Client& client, uint64_t n, absl::Duration limit) {
  const absl::Time give_up = absl::Now() + limit;
  while (absl::Now() < give_up) {
    absl::StatusOr<v1::StatsResponse> stats = client.Stats("", absl::Seconds(2));
    if (stats.ok() && stats->totals().requests_total() >= n) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

}  // namespace fetchpool::lifecycle
