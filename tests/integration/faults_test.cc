// Issue 3 #5: upstream faults map to clear errors, and nothing is lost or
// leaked. Every test ends with the pool quiet (busy 0, waiters 0), the books
// balanced (opened - closed == idle + busy + connecting) and the pool
// invariants holding.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <map>

#include "absl/strings/match.h"
#include "tests/integration/fault_test_util.h"

namespace fetchpool::testing {
namespace {

class FaultsTest : public FaultServiceTest {
 protected:
  static ServerConfig FaultConfig() {
    ServerConfig config = Config();
    // Slow-loris transfers drain in the background after their deadline;
    // a short budget keeps each test's quiet-pool wait short.
    config.engine.defaults.fetch.drain_timeout = absl::Milliseconds(300);
    return config;
  }

  // Runs `path` once on a fresh and once on a reused connection.
  void ExpectFaultBothWays(const std::string& path, grpc::StatusCode code,
                           const std::string& reason) {
    for (bool reused : {false, true}) {
      if (reused) {
        CallResult warm = Get("/echo");
        ASSERT_TRUE(warm.status.ok()) << warm.status.error_message();
      }
      CallResult r = Get(path);
      EXPECT_EQ(r.status.error_code(), code)
          << path << (reused ? " (reused)" : " (fresh)") << ": " << r.status.error_message()
          << " body size " << r.response.body().size();
      EXPECT_EQ(r.reason, reason) << path << ": " << r.status.error_message();
      EXPECT_FALSE(r.status.error_message().empty());
      ExpectQuietAndSound(PoolKey());
    }
  }
};

TEST_F(FaultsTest, ResetMidBodyIsUnavailableConnectionReset) {
  StartServer(FaultConfig());
  ExpectFaultBothWays("/reset_mid_body?promise=10000&send=1000", grpc::StatusCode::UNAVAILABLE,
                      "CONNECTION_RESET");
  v1::HostPoolStats s = PoolStats();
  // Response bytes had arrived: never replayed.
  EXPECT_EQ(s.retries_total(), 0u);
  EXPECT_EQ(s.errors_by_reason().at("CONNECTION_RESET"), 2u);
}

TEST_F(FaultsTest, TruncatedBodyIsUnavailableNeverAShortSuccess) {
  StartServer(FaultConfig());
  ExpectFaultBothWays("/truncate?promise=1000&send=100", grpc::StatusCode::UNAVAILABLE,
                      "TRUNCATED_RESPONSE");
  // A truncation right after the head, and one a byte short.
  ExpectFaultBothWays("/truncate?promise=1000&send=0", grpc::StatusCode::UNAVAILABLE,
                      "TRUNCATED_RESPONSE");
  ExpectFaultBothWays("/truncate?promise=1000&send=999", grpc::StatusCode::UNAVAILABLE,
                      "TRUNCATED_RESPONSE");
  EXPECT_EQ(PoolStats().errors_by_reason().at("TRUNCATED_RESPONSE"), 6u);
}

TEST_F(FaultsTest, ResetBeforeAnyResponseIsUnavailable) {
  StartServer(FaultConfig());
  ExpectFaultBothWays("/reset", grpc::StatusCode::UNAVAILABLE, "CONNECTION_RESET");
}

TEST_F(FaultsTest, SlowLorisEndsAtTheCallDeadline) {
  StartServer(FaultConfig());
  // One byte every 100 ms of a 100-byte body: 10 s if we let it.
  const absl::Time start = absl::Now();
  CallResult r = Get("/slowbody?n=100&interval_ms=100&chunk=1", absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << r.status.error_message();
  EXPECT_GE(took, absl::Milliseconds(290));
  EXPECT_LT(took, absl::Milliseconds(300 + 300));
  std::cout << "[figures] slow-loris with a 300ms deadline answered after "
            << absl::FormatDuration(took) << std::endl;
  ExpectQuietAndSound(PoolKey());
  // The drain budget (300 ms) ran out long before the body would end.
  EXPECT_EQ(PoolStats().closed_aborted_total(), 1u);
}

TEST_F(FaultsTest, RequestTimeoutIsDeadlineExceededFromTheServer) {
  StartServer(FaultConfig());
  v1::FetchRequest request;
  request.set_url(Url("/slowbody?n=100&interval_ms=100&chunk=1"));
  request.mutable_request_timeout()->set_nanos(200 * 1000 * 1000);
  const absl::Time start = absl::Now();
  CallResult r = Fetch(request, absl::Seconds(10));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's own answer (the call's deadline is 10 s away).
  EXPECT_EQ(r.reason, "DEADLINE_EXCEEDED");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "request_timeout"))
      << r.status.error_message();
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Milliseconds(1000));
  // Also before any response byte.
  request.set_url(Url("/sleep?ms=2000"));
  CallResult quiet = Fetch(request, absl::Seconds(10));
  EXPECT_EQ(quiet.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(quiet.reason, "DEADLINE_EXCEEDED");
  ExpectQuietAndSound(PoolKey());
}

// A listener that never accepts, with its backlog (listen(fd, 0): one
// pending connection) already full, so the kernel drops further SYNs.
class BlackholeListener {
 public:
  bool Start() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
    if (listen(listen_fd_, 0) != 0) return false;
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    for (int i = 0; i < 3; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers_.push_back(fd);
    }
    // Let the first handshakes complete and fill the accept queue.
    absl::SleepFor(absl::Milliseconds(50));
    return true;
  }
  ~BlackholeListener() {
    for (int fd : fillers_) close(fd);
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  int port() const { return port_; }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

TEST_F(FaultsTest, ConnectTimeoutIsUnavailable) {
  ServerConfig config = FaultConfig();
  config.engine.defaults.fetch.connect_timeout = absl::Milliseconds(200);
  StartServer(config);
  BlackholeListener blackhole;
  ASSERT_TRUE(blackhole.Start());
  const absl::Time start = absl::Now();
  CallResult r = GetUrl(absl::StrCat("http://127.0.0.1:", blackhole.port(), "/"));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
  EXPECT_EQ(r.reason, "CONNECT_TIMEOUT") << r.status.error_message();
  EXPECT_TRUE(absl::StrContains(r.status.error_message(),
                                absl::StrCat("127.0.0.1:", blackhole.port())))
      << r.status.error_message();
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Milliseconds(1500));
  ExpectQuietAndSound(LoopbackPoolKey(blackhole.port()));
  v1::HostPoolStats s = StatsFor(LoopbackPoolKey(blackhole.port()));
  EXPECT_EQ(s.connections_opened_total(), 1u);
  EXPECT_EQ(s.connections_closed_total(), 1u);
  EXPECT_EQ(s.idle_connections(), 0u);
}

TEST_F(FaultsTest, ConnectionCloseFromTheOriginIsASuccessAndNotReused) {
  StartServer(FaultConfig());
  CallResult r = Get("/close");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.status(), 200);
  EXPECT_EQ(r.response.body(), "closing");
  ExpectQuietAndSound(PoolKey());
  v1::HostPoolStats s = PoolStats();
  EXPECT_EQ(s.idle_connections(), 0u);
  EXPECT_EQ(s.closed_upstream_total(), 1u);
  // Usually the origin's FIN is here before curl closes; on a loaded machine
  // curl can close first (a simultaneous close: TIME_WAIT on both sides).
  EXPECT_LE(s.time_wait_estimate(), 1u);
  CallResult next = Get("/echo");
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_FALSE(next.response.connection_reused());
  EXPECT_EQ(next.response.attempts(), 1u);
  EXPECT_EQ(origin_->connections_accepted(), 2);
  ExpectQuietAndSound(PoolKey());
}

TEST_F(FaultsTest, ChunkedResponsesArriveWhole) {
  StartServer(FaultConfig());
  for (const auto& [n, chunk] : {std::pair{100000, 777}, std::pair{3000, 1}, std::pair{0, 10}}) {
    CallResult r = Get(absl::StrCat("/chunked?n=", n, "&chunk=", chunk));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.response.status(), 200);
    EXPECT_EQ(r.response.body(), std::string(n, 'x')) << n << "/" << chunk;
  }
  ExpectQuietAndSound(PoolKey());
  // All on one connection: a chunked body ends cleanly and is reusable.
  EXPECT_EQ(origin_->connections_accepted(), 1);
}

// What each kind of fault must end as.
struct FaultKind {
  std::string path;
  grpc::StatusCode code;
  absl::Duration call_timeout = absl::Seconds(10);
  absl::Duration request_timeout = absl::ZeroDuration();
  uint64_t max_response_bytes = 0;
};

TEST_F(FaultsTest, FiftyConcurrentMixedFaultsLeakNothing) {
  ServerConfig config = FaultConfig();
  config.engine.defaults.pool.max_connections = 16;
  config.engine.defaults.pool.wait_timeout = absl::Seconds(10);
  StartServer(config);
  const std::vector<FaultKind> kinds = {
      {"/reset", grpc::StatusCode::UNAVAILABLE},
      {"/reset_mid_body?promise=10000&send=1000", grpc::StatusCode::UNAVAILABLE},
      {"/truncate?promise=1000&send=100", grpc::StatusCode::UNAVAILABLE},
      {"/slowbody?n=50&interval_ms=100&chunk=1", grpc::StatusCode::DEADLINE_EXCEEDED,
       absl::Seconds(10), absl::Milliseconds(150)},
      {"/sleep?ms=2000", grpc::StatusCode::DEADLINE_EXCEEDED, absl::Milliseconds(250)},
      {"/close", grpc::StatusCode::OK},
      {"/bytes?n=5000", grpc::StatusCode::RESOURCE_EXHAUSTED, absl::Seconds(10),
       absl::ZeroDuration(), 1000},
      {"/status/500", grpc::StatusCode::OK},
      {"/chunked?n=20000&chunk=500", grpc::StatusCode::OK},
      {"/echo", grpc::StatusCode::OK},
  };
  AsyncCalls calls(stub_.get());
  constexpr int kCalls = 50;
  for (int i = 0; i < kCalls; ++i) {
    const FaultKind& kind = kinds[i % kinds.size()];
    v1::FetchRequest request;
    request.set_url(Url(kind.path));
    request.set_id(absl::StrCat(i));
    if (kind.request_timeout > absl::ZeroDuration()) {
      request.mutable_request_timeout()->set_nanos(
          static_cast<int32_t>(absl::ToInt64Nanoseconds(kind.request_timeout)));
    }
    if (kind.max_response_bytes > 0) request.set_max_response_bytes(kind.max_response_bytes);
    calls.Start(request, kind.call_timeout);
  }
  ASSERT_TRUE(calls.WaitAll(absl::Seconds(30)));
  std::map<std::string, int> outcomes;
  for (const auto& [request, result] : calls.Results()) {
    const FaultKind& kind = kinds[std::stoi(request.id()) % kinds.size()];
    EXPECT_EQ(result.status.error_code(), kind.code)
        << kind.path << ": " << result.reason << " " << result.status.error_message();
    ++outcomes[absl::StrCat(result.status.error_code(), "/", result.reason)];
    if (kind.code == grpc::StatusCode::OK && kind.path == "/chunked?n=20000&chunk=500") {
      EXPECT_EQ(result.response.body().size(), 20000u);
    }
  }
  std::cout << "[figures] 50 mixed faults, outcomes (code/reason):";
  for (const auto& [k, n] : outcomes) std::cout << " " << k << "=" << n;
  std::cout << std::endl;
  // A normal fetch afterwards just works.
  CallResult after = Get("/echo");
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.response.status(), 200);
  ExpectQuietAndSound(PoolKey());
  v1::HostPoolStats s = PoolStats();
  Print("50 mixed faults then a normal fetch", s);
  // /reset on a reused connection is replayed once (a GET, no response
  // byte); a replay asks the pool again and counts as a request.
  EXPECT_EQ(s.requests_total(), static_cast<uint64_t>(kCalls) + 1 + s.retries_total());
  EXPECT_LE(s.idle_connections() + s.busy_connections(), 16u);
  EXPECT_EQ(s.connections_opened_total() - s.connections_closed_total(),
            static_cast<uint64_t>(s.idle_connections()) + s.busy_connections());
}

}  // namespace
}  // namespace fetchpool::testing
