#ifndef FETCHPOOL_TESTS_INTEGRATION_SERVICE_FIXTURE_H_
#define FETCHPOOL_TESTS_INTEGRATION_SERVICE_FIXTURE_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"
#include "server/fetchpool_server.h"
#include "server/grpc_status.h"
#include "server/metrics_exporter.h"
#include "tests/origin/test_origin.h"
#include "engine/engine_test_peer.h"

namespace fetchpool::testing {

// The outcome of one Fetch call as a caller sees it.
struct CallResult {
  grpc::Status status;
  std::string reason;  // the fetchpool-reason trailer
  v1::FetchResponse response;
};

// A real fetchpool server (engine + gRPC on 127.0.0.1:0) and a real gRPC
// client, against a TestOrigin on loopback.
class ServiceTest : public ::testing::Test {
 protected:
  // Loopback must be allowed explicitly: it is in the default deny list.
  static ServerConfig LoopbackConfig() {
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.metrics_listen = "";  // off: tests run in parallel; metrics tests pick their own port
    config.engine.allow_cidrs = {"127.0.0.0/8"};
    return config;
  }

  // LoopbackConfig with /metrics (and the status page) on an ephemeral port.
  static ServerConfig MetricsConfig() {
    ServerConfig config = LoopbackConfig();
    config.metrics_listen = "127.0.0.1:0";
    return config;
  }

  // A MetricsExporter of its own on 127.0.0.1:0 over the server's engine,
  // whose snapshot gives up after `snapshot_timeout` (see StallLoop).
  std::unique_ptr<MetricsExporter> StartExporter(absl::Duration snapshot_timeout) {
    MetricsExporter::Options options;
    options.snapshot_timeout = snapshot_timeout;
    absl::StatusOr<std::unique_ptr<MetricsExporter>> exporter =
        MetricsExporter::Start(server_->engine(), "127.0.0.1:0", options);
    EXPECT_TRUE(exporter.ok()) << exporter.status();
    return exporter.ok() ? *std::move(exporter) : nullptr;
  }

  // Keeps the engine's loop thread busy for 1 s, from a thread of its own
  // (join it): a snapshot asked for meanwhile is answered only after that.
  // Returns once the loop is stuck.
  std::thread StallLoop() {
    std::thread blocker([this] {
      EngineTestPeer::RunOnLoopAndWait(server_->engine(), 0,
                                       [] { absl::SleepFor(absl::Seconds(1)); });
    });
    absl::SleepFor(absl::Milliseconds(50));
    return blocker;
  }

  void StartOrigin(TestOrigin::Options options = {}) {
    origin_ = std::make_unique<TestOrigin>(options);
    ASSERT_TRUE(origin_->Start().ok());
  }

  void StartServer(const ServerConfig& config) {
    absl::StatusOr<std::unique_ptr<FetchPoolServer>> server = FetchPoolServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = v1::FetchPool::NewStub(channel_);
  }

  void SetUp() override { StartOrigin(); }

  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_TRUE(EngineTestPeer::CheckInvariants(server_->engine()).ok()) << EngineTestPeer::CheckInvariants(server_->engine());
      server_->Shutdown(absl::Seconds(1));
    }
    if (origin_ != nullptr) origin_->Stop();
  }

  std::string Url(const std::string& path) const { return origin_->base_url() + path; }
  std::string PoolKey() const { return absl::StrCat("http://127.0.0.1:", origin_->port()); }

  CallResult Fetch(const v1::FetchRequest& request, absl::Duration timeout = absl::Seconds(10)) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    CallResult out;
    out.status = stub_->Fetch(&context, request, &out.response);
    out.reason = ReasonTrailer(context);
    return out;
  }

  CallResult Get(const std::string& path, absl::Duration timeout = absl::Seconds(10)) {
    v1::FetchRequest request;
    request.set_url(Url(path));
    return Fetch(request, timeout);
  }

  static std::string ReasonTrailer(const grpc::ClientContext& context) {
    const auto& trailers = context.GetServerTrailingMetadata();
    auto it = trailers.find(kReasonTrailer);
    return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
  }

  // One pool's stats (empty when fetchpool has no pool for `pool_key`).
  v1::HostPoolStats StatsFor(const std::string& pool_key) {
    v1::StatsRequest request;
    request.set_host(pool_key);
    v1::StatsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status status = stub_->Stats(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.pools_size() > 0 ? response.pools(0) : v1::HostPoolStats();
  }
  v1::HostPoolStats PoolStats() { return StatsFor(PoolKey()); }

  // Polls Stats until the pool is quiet (nothing busy, connecting or
  // waiting), or the limit passes.
  bool WaitForQuietPool(absl::Duration limit = absl::Seconds(5)) {
    const absl::Time give_up = absl::Now() + limit;
    while (absl::Now() < give_up) {
      v1::HostPoolStats s = PoolStats();
      if (s.busy_connections() == 0 && s.connecting_connections() == 0 &&
          s.wait_queue_length() == 0) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  std::unique_ptr<TestOrigin> origin_;
  std::unique_ptr<FetchPoolServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::FetchPool::Stub> stub_;
};

inline std::string HeaderValue(const v1::FetchResponse& response, const std::string& name) {
  for (const v1::Header& h : response.headers()) {
    if (absl::EqualsIgnoreCase(h.name(), name)) return h.value();
  }
  return "";
}

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_INTEGRATION_SERVICE_FIXTURE_H_
