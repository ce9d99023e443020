#include "tests/client-sdk/fake_fetchpool.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"

namespace fetchpool {
namespace testing {
namespace {

using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;
using fetchpool::v1::HostPoolStats;
using fetchpool::v1::StatsResponse;

void SetMicros(google::protobuf::Duration* d, int64_t us) {
  d->set_seconds(us / 1000000);
  d->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
}

void AddHeader(FetchResponse* response, const std::string& name, const std::string& value) {
  auto* header = response->add_headers();
  header->set_name(name);
  header->set_value(value);
}

void FillOk(const FetchRequest& request, int status, std::string body, FetchResponse* response) {
  response->set_status(status);
  response->set_body(std::move(body));
  response->set_http_version("HTTP/1.1");
  response->set_pool("http://origin.test:80");
  response->set_remote_address("127.0.0.1:80");
  response->set_effective_url(request.url());
  response->set_attempts(1);
  response->set_id(request.id());
  response->set_connection_reused(true);
  auto* timing = response->mutable_timing();
  SetMicros(timing->mutable_queue_wait(), 200);
  SetMicros(timing->mutable_dns(), 1200);
  SetMicros(timing->mutable_connect(), 300);
  SetMicros(timing->mutable_first_byte(), 4000);
  SetMicros(timing->mutable_total(), 6000);
}

grpc::Status Fail(grpc::ServerContext* context, grpc::StatusCode code, const std::string& reason,
                  const std::string& message) {
  context->AddTrailingMetadata("fetchpool-reason", reason);
  return grpc::Status(code, message);
}

HostPoolStats Pool(const std::string& host, uint32_t max, uint32_t busy, uint32_t idle, uint32_t connecting,
                   uint32_t waiting, uint64_t requests, uint64_t reused, uint64_t opened, uint32_t time_wait,
                   uint64_t wait_timeouts) {
  HostPoolStats p;
  p.set_host(host);
  p.set_max_connections(max);
  p.set_busy_connections(busy);
  p.set_idle_connections(idle);
  p.set_connecting_connections(connecting);
  p.set_wait_queue_length(waiting);
  p.set_requests_total(requests);
  p.set_reused_requests_total(reused);
  p.set_connections_opened_total(opened);
  p.set_time_wait_estimate(time_wait);
  p.set_wait_timeouts_total(wait_timeouts);
  return p;
}

void AddToTotals(const HostPoolStats& p, HostPoolStats* t) {
  t->set_max_connections(t->max_connections() + p.max_connections());
  t->set_busy_connections(t->busy_connections() + p.busy_connections());
  t->set_idle_connections(t->idle_connections() + p.idle_connections());
  t->set_connecting_connections(t->connecting_connections() + p.connecting_connections());
  t->set_wait_queue_length(t->wait_queue_length() + p.wait_queue_length());
  t->set_requests_total(t->requests_total() + p.requests_total());
  t->set_reused_requests_total(t->reused_requests_total() + p.reused_requests_total());
  t->set_connections_opened_total(t->connections_opened_total() + p.connections_opened_total());
  t->set_time_wait_estimate(t->time_wait_estimate() + p.time_wait_estimate());
  t->set_wait_timeouts_total(t->wait_timeouts_total() + p.wait_timeouts_total());
}

}  // namespace

StatsResponse CannedStats() {
  StatsResponse stats;
  *stats.add_pools() = Pool("https://auth.example:443", 4, 1, 3, 0, 0, 5000, 4996, 4, 0, 0);
  *stats.add_pools() = Pool("http://api.internal:80", 8, 8, 0, 0, 31, 1200, 1170, 30, 2, 4);
  *stats.add_pools() = Pool("http://new.internal:80", 8, 0, 0, 1, 0, 0, 0, 0, 0, 0);
  *stats.add_pools() = Pool("http://slow.internal:8080", 2, 2, 0, 0, 5, 10, 7, 3, 1, 9);
  for (const auto& p : stats.pools()) AddToTotals(p, stats.mutable_totals());
  stats.set_pool_count(stats.pools_size());
  return stats;
}

grpc::Status FakeFetchPoolService::Fetch(grpc::ServerContext* context, const FetchRequest* request,
                                         FetchResponse* response) {
  {
    absl::MutexLock lock(&mu_);
    last_request_ = *request;
  }
  const std::string& url = request->url();
  if (url == kOkUrl) {
    FillOk(*request, 200, kOkBody, response);
    AddHeader(response, "Content-Type", "text/plain");
    AddHeader(response, "X-Fake", "1");
    return grpc::Status::OK;
  }
  if (url == kEchoUrl) {
    FillOk(*request, 200, request->body(), response);
    AddHeader(response, "X-Method", request->method());
    for (const auto& h : request->headers()) AddHeader(response, h.name(), h.value());
    return grpc::Status::OK;
  }
  if (url == kNotFoundUrl) {
    FillOk(*request, 404, "not found\n", response);
    return grpc::Status::OK;
  }
  if (url == kRefusedUrl) {
    return Fail(context, grpc::StatusCode::UNAVAILABLE, "CONNECT_REFUSED", kRefusedMessage);
  }
  if (url == kBigUrl) {
    FillOk(*request, 200, std::string(kBigBodySize, 'x'), response);
    return grpc::Status::OK;
  }
  if (url == kSlowUrl) {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < give_up) {
      if (context->IsCancelled()) {
        ++abandoned_slow_calls_;
        return grpc::Status(grpc::StatusCode::CANCELLED, "caller went away");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FillOk(*request, 200, "finally\n", response);
    return grpc::Status::OK;
  }
  return Fail(context, grpc::StatusCode::UNAVAILABLE, "DNS_FAILURE",
              absl::StrCat("DNS_FAILURE: fake knows no ", url));
}

grpc::Status FakeFetchPoolService::Stats(grpc::ServerContext* context, const fetchpool::v1::StatsRequest* request,
                                         StatsResponse* response) {
  StatsResponse all = CannedStats();
  if (request->host().empty()) {
    *response = all;
    return grpc::Status::OK;
  }
  for (const auto& p : all.pools()) {
    if (p.host() != request->host()) continue;
    *response->add_pools() = p;
    AddToTotals(p, response->mutable_totals());
  }
  response->set_pool_count(response->pools_size());
  return grpc::Status::OK;
}

FetchRequest FakeFetchPoolService::last_request() const {
  absl::MutexLock lock(&mu_);
  return last_request_;
}

FakeFetchPoolServer::FakeFetchPoolServer(int port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    // Every test depends on the server, so there is no point going on.
    std::fprintf(stderr, "fake fetchpool: cannot listen on 127.0.0.1:%d\n", port);
    std::abort();
  }
}

FakeFetchPoolServer::~FakeFetchPoolServer() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

std::string FakeFetchPoolServer::target() const { return absl::StrCat("127.0.0.1:", port_); }

}  // namespace testing
}  // namespace fetchpool
