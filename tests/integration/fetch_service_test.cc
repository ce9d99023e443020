// End-to-end: a real gRPC client -> fetchpool (engine + gRPC server) -> a
// real HTTP origin on loopback.
#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include <mutex>
#include "tests/integration/service_fixture.h"

namespace fetchpool::testing {
namespace {

TEST_F(ServiceTest, GetReturnsStatusHeadersAndBody) {
  StartServer(LoopbackConfig());
  v1::FetchRequest request;
  request.set_url(Url("/echo?x=1"));
  v1::Header* h = request.add_headers();
  h->set_name("X-Trace");
  h->set_value("abc 123");
  request.set_id("call-7");
  CallResult r = Fetch(request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.status(), 200);
  EXPECT_EQ(HeaderValue(r.response, "X-Method"), "GET");
  EXPECT_EQ(HeaderValue(r.response, "X-Echo-X-Trace"), "abc 123");
  EXPECT_EQ(r.response.body(), "");
  EXPECT_FALSE(r.response.connection_reused());
  EXPECT_EQ(r.response.pool(), PoolKey());
  EXPECT_EQ(r.response.id(), "call-7");
  EXPECT_EQ(r.response.http_version(), "HTTP/1.1");
  EXPECT_EQ(r.response.remote_address(), absl::StrCat("127.0.0.1:", origin_->port()));
  EXPECT_EQ(r.response.attempts(), 1u);
  EXPECT_GT(r.response.timing().total().nanos() + r.response.timing().total().seconds(), 0);
}

TEST_F(ServiceTest, PostSendsBodyAndHeaders) {
  StartServer(LoopbackConfig());
  v1::FetchRequest request;
  request.set_method("POST");
  request.set_url(Url("/echo"));
  request.set_body(std::string("hello\0world", 11));
  v1::Header* h = request.add_headers();
  h->set_name("X-Kind");
  h->set_value("binary");
  CallResult r = Fetch(request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.status(), 200);
  EXPECT_EQ(HeaderValue(r.response, "X-Method"), "POST");
  EXPECT_EQ(HeaderValue(r.response, "X-Echo-X-Kind"), "binary");
  EXPECT_EQ(r.response.body(), std::string("hello\0world", 11));
}

TEST_F(ServiceTest, OtherMethodsReachTheOrigin) {
  StartServer(LoopbackConfig());
  for (const char* method : {"PUT", "DELETE", "PATCH", "OPTIONS"}) {
    v1::FetchRequest request;
    request.set_method(method);
    request.set_url(Url("/echo"));
    request.set_body("b");
    CallResult r = Fetch(request);
    ASSERT_TRUE(r.status.ok()) << method << ": " << r.status.error_message();
    EXPECT_EQ(HeaderValue(r.response, "X-Method"), method);
    EXPECT_EQ(r.response.body(), "b") << method;
  }
  v1::FetchRequest head;
  head.set_method("HEAD");
  head.set_url(Url("/bytes?n=100"));
  CallResult r = Fetch(head);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.status(), 200);
  EXPECT_EQ(r.response.body(), "");
}

TEST_F(ServiceTest, UpstreamErrorStatusIsAResponseNotAnError) {
  StartServer(LoopbackConfig());
  CallResult r = Get("/status/503");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.status(), 503);
  EXPECT_EQ(r.response.body(), "status 503");
  CallResult not_found = Get("/status/404");
  ASSERT_TRUE(not_found.status.ok());
  EXPECT_EQ(not_found.response.status(), 404);
  EXPECT_EQ(PoolStats().failures_total(), 0u);
}

TEST_F(ServiceTest, SequentialFetchesReuseOneConnection) {
  StartServer(LoopbackConfig());
  for (int i = 0; i < 50; ++i) {
    CallResult r = Get("/echo");
    ASSERT_TRUE(r.status.ok()) << i << ": " << r.status.error_message();
    EXPECT_EQ(r.response.connection_reused(), i > 0) << i;
    EXPECT_EQ(HeaderValue(r.response, "X-Connection-Id"), HeaderValue(r.response, "X-Connection-Id"));
    EXPECT_EQ(HeaderValue(r.response, "X-Request-On-Connection"), absl::StrCat(i + 1));
  }
  EXPECT_EQ(origin_->connections_accepted(), 1);
  v1::HostPoolStats s = PoolStats();
  EXPECT_EQ(s.requests_total(), 50u);
  EXPECT_EQ(s.reused_requests_total(), 49u);
  EXPECT_EQ(s.connections_opened_total(), 1u);
  EXPECT_EQ(s.idle_connections(), 1u);
  EXPECT_EQ(s.busy_connections(), 0u);
}

TEST_F(ServiceTest, ConcurrentSlowFetchesQueueBehindTheCap) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.pool.max_connections = 8;
  config.engine.defaults.pool.wait_timeout = absl::Seconds(30);
  StartServer(config);

  constexpr int kCalls = 200;
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  std::mutex mu;
  std::vector<std::string> errors;
  struct Call {
    grpc::ClientContext context;
    v1::FetchRequest request;
    v1::FetchResponse response;
  };
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    call->request.set_url(Url("/sleep?ms=50"));
    Call* raw = call.get();
    calls.push_back(std::move(call));
    stub_->async()->Fetch(&raw->context, &raw->request, &raw->response,
                          [&, raw](grpc::Status status) {
                            if (status.ok() && raw->response.status() == 200) {
                              ok.fetch_add(1);
                            } else {
                              std::lock_guard<std::mutex> lock(mu);
                              errors.push_back(status.error_message());
                            }
                            done.fetch_add(1);
                          });
  }
  uint32_t max_busy = 0;
  uint32_t max_waiting = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (done.load() < kCalls && absl::Now() < give_up) {
    v1::HostPoolStats s = PoolStats();
    max_busy = std::max(max_busy, s.busy_connections() + s.connecting_connections());
    max_waiting = std::max(max_waiting, s.wait_queue_length());
    EXPECT_LE(s.busy_connections() + s.connecting_connections() + s.idle_connections(), 8u);
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(done.load(), kCalls);
  EXPECT_EQ(ok.load(), kCalls) << (errors.empty() ? "" : errors.front());
  EXPECT_LE(max_busy, 8u);
  EXPECT_GT(max_busy, 0u);
  EXPECT_GT(max_waiting, 0u);
  ASSERT_TRUE(WaitForQuietPool());
  v1::HostPoolStats after = PoolStats();
  EXPECT_EQ(after.busy_connections(), 0u);
  EXPECT_EQ(after.wait_queue_length(), 0u);
  EXPECT_LE(after.connections_opened_total(), 8u);
  EXPECT_EQ(after.requests_total(), static_cast<uint64_t>(kCalls));
  EXPECT_LE(origin_->connections_accepted(), 8);
}

TEST_F(ServiceTest, WaitForAConnectionTimesOut) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.pool.max_connections = 1;
  StartServer(config);
  std::thread holder([&] { EXPECT_TRUE(Get("/sleep?ms=1000").status.ok()); });
  // Wait until the single connection is taken.
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (PoolStats().busy_connections() + PoolStats().connecting_connections() == 0 &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  v1::FetchRequest request;
  request.set_url(Url("/echo"));
  request.mutable_wait_timeout()->set_nanos(100 * 1000 * 1000);
  const absl::Time start = absl::Now();
  CallResult r = Fetch(request);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(r.reason, "WAIT_TIMEOUT");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "for a connection to " + PoolKey()))
      << r.status.error_message();
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "1 busy")) << r.status.error_message();
  EXPECT_GE(took, absl::Milliseconds(90));
  EXPECT_LT(took, absl::Milliseconds(900));
  holder.join();
  EXPECT_EQ(PoolStats().wait_timeouts_total(), 1u);
  EXPECT_TRUE(WaitForQuietPool());
}

TEST_F(ServiceTest, CallDeadlineBoundsTheWait) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.pool.max_connections = 1;
  config.engine.defaults.pool.wait_timeout = absl::Seconds(30);
  StartServer(config);
  std::thread holder([&] { EXPECT_TRUE(Get("/sleep?ms=800").status.ok()); });
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  CallResult r = Get("/echo", absl::Milliseconds(150));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(700));
  holder.join();
  EXPECT_TRUE(WaitForQuietPool());
  EXPECT_EQ(PoolStats().wait_queue_length(), 0u);
}

TEST_F(ServiceTest, CallDeadlineBoundsTheTransfer) {
  StartServer(LoopbackConfig());
  const absl::Time start = absl::Now();
  CallResult r = Get("/sleep?ms=3000", absl::Milliseconds(200));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_TRUE(WaitForQuietPool());
}

TEST_F(ServiceTest, CancelledCallWhileTransferringFreesTheConnection) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.fetch.on_deadline = OnDeadline::kAbort;
  StartServer(config);
  grpc::ClientContext context;
  v1::FetchRequest request;
  request.set_url(Url("/sleep?ms=5000"));
  v1::FetchResponse response;
  std::atomic<bool> finished{false};
  grpc::Status status;
  stub_->async()->Fetch(&context, &request, &response, [&](grpc::Status s) {
    status = s;
    finished.store(true);
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (PoolStats().busy_connections() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  context.TryCancel();
  while (!finished.load() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(finished.load());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(WaitForQuietPool(absl::Seconds(2)));
  v1::HostPoolStats s = PoolStats();
  EXPECT_EQ(s.closed_aborted_total(), 1u);
  EXPECT_EQ(s.busy_connections(), 0u);
}

TEST_F(ServiceTest, CancelledCallLeavesTheWaitQueue) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.pool.max_connections = 1;
  config.engine.defaults.pool.wait_timeout = absl::Seconds(30);
  StartServer(config);
  std::thread holder([&] { EXPECT_TRUE(Get("/sleep?ms=1500").status.ok()); });
  absl::SleepFor(absl::Milliseconds(100));
  grpc::ClientContext context;
  v1::FetchRequest request;
  request.set_url(Url("/echo"));
  v1::FetchResponse response;
  std::atomic<bool> finished{false};
  grpc::Status status;
  stub_->async()->Fetch(&context, &request, &response, [&](grpc::Status s) {
    status = s;
    finished.store(true);
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (PoolStats().wait_queue_length() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(PoolStats().wait_queue_length(), 1u);
  context.TryCancel();
  while (!finished.load() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  // The queue empties at once, long before the holder's connection is free.
  absl::Time queue_check_limit = absl::Now() + absl::Seconds(1);
  while (PoolStats().wait_queue_length() != 0 && absl::Now() < queue_check_limit) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(PoolStats().wait_queue_length(), 0u);
  EXPECT_EQ(PoolStats().cancelled_waiters_total(), 1u);
  holder.join();
  EXPECT_TRUE(WaitForQuietPool());
}

TEST_F(ServiceTest, ConnectRefusedIsUnavailable) {
  StartServer(LoopbackConfig());
  // A port nobody listens on: bind one, note it, close it.
  TestOrigin closed;
  ASSERT_TRUE(closed.Start().ok());
  const int port = closed.port();
  closed.Stop();
  v1::FetchRequest request;
  request.set_url(absl::StrCat("http://127.0.0.1:", port, "/"));
  CallResult r = Fetch(request);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(r.reason, "CONNECT_REFUSED");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), absl::StrCat("127.0.0.1:", port)))
      << r.status.error_message();
}

TEST_F(ServiceTest, DnsFailureNamesTheHost) {
  StartServer(LoopbackConfig());
  v1::FetchRequest request;
  request.set_url("http://no-such-host.invalid/");
  CallResult r = Fetch(request);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(r.reason, "DNS_FAILURE");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "no-such-host.invalid"))
      << r.status.error_message();
}

TEST_F(ServiceTest, BadInputIsInvalidArgument) {
  StartServer(LoopbackConfig());
  struct Case {
    std::string method, url, reason;
  } cases[] = {
      {"GET", "not a url", "INVALID_URL"},
      {"GET", "", "INVALID_URL"},
      {"GET", "ftp://example.com/file", "UNSUPPORTED_SCHEME"},
      {"GET", "file:///etc/passwd", "UNSUPPORTED_SCHEME"},
      {"GE T", "http://example.com/", "INVALID_METHOD"},
  };
  for (const Case& c : cases) {
    v1::FetchRequest request;
    request.set_method(c.method);
    request.set_url(c.url);
    CallResult r = Fetch(request);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.url;
    EXPECT_EQ(r.reason, c.reason) << c.url << ": " << r.status.error_message();
    EXPECT_FALSE(r.status.error_message().empty());
  }
  v1::FetchRequest injected;
  injected.set_url(Url("/echo"));
  v1::Header* h = injected.add_headers();
  h->set_name("X-Evil");
  h->set_value("a\r\nHost: other");
  CallResult r = Fetch(injected);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.reason, "INVALID_HEADER");
}

TEST_F(ServiceTest, LoopbackIsDeniedByDefault) {
  ServerConfig config = LoopbackConfig();
  config.engine.allow_cidrs.clear();
  StartServer(config);
  CallResult r = Get("/echo");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(r.reason, "DESTINATION_DENIED");
  EXPECT_EQ(origin_->connections_accepted(), 0);
  v1::FetchRequest by_name;
  by_name.set_url(absl::StrCat("http://localhost:", origin_->port(), "/echo"));
  CallResult named = Fetch(by_name);
  EXPECT_EQ(named.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << named.status.error_message();
  EXPECT_EQ(origin_->connections_accepted(), 0);
}

TEST_F(ServiceTest, ResponseOverTheLimitIsResourceExhausted) {
  StartServer(LoopbackConfig());
  v1::FetchRequest request;
  request.set_url(Url("/bytes?n=5000"));
  request.set_max_response_bytes(1000);
  CallResult r = Fetch(request);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.reason, "RESPONSE_TOO_LARGE");
  // The caller is answered at once while the rest of the body drains; the
  // connection goes back idle when the drain ends, not before (a fetch
  // sent sooner rightly opens a second connection).
  EXPECT_TRUE(WaitForQuietPool());
  // Within the limit it works, on the same (drained, kept) connection.
  request.set_max_response_bytes(5000);
  CallResult ok = Fetch(request);
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.response.body().size(), 5000u);
  EXPECT_TRUE(WaitForQuietPool());
  EXPECT_EQ(origin_->connections_accepted(), 1);
}

TEST_F(ServiceTest, TruncatedBodyIsUnavailableNeverAShortSuccess) {
  StartServer(LoopbackConfig());
  CallResult r = Get("/truncate?promise=1000&send=100");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(r.reason, "TRUNCATED_RESPONSE");
  EXPECT_TRUE(WaitForQuietPool());
}

TEST_F(ServiceTest, ResetIsUnavailable) {
  StartServer(LoopbackConfig());
  CallResult r = Get("/reset");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
  EXPECT_EQ(r.reason, "CONNECTION_RESET");
  EXPECT_TRUE(WaitForQuietPool());
}

TEST_F(ServiceTest, WaitQueueFullIsResourceExhaustedAtOnce) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.pool.max_connections = 1;
  config.engine.defaults.pool.max_waiters = 1;
  config.engine.defaults.pool.wait_timeout = absl::Seconds(30);
  StartServer(config);
  std::thread holder([&] { EXPECT_TRUE(Get("/sleep?ms=800").status.ok()); });
  absl::SleepFor(absl::Milliseconds(100));
  std::thread waiter([&] { EXPECT_TRUE(Get("/echo").status.ok()); });
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (PoolStats().wait_queue_length() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const absl::Time start = absl::Now();
  CallResult r = Get("/echo");
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.reason, "QUEUE_FULL");
  holder.join();
  waiter.join();
  EXPECT_EQ(PoolStats().queue_full_total(), 1u);
}

TEST_F(ServiceTest, IdleConnectionsAreClosedByTheTimer) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.pool.idle_timeout = absl::Milliseconds(200);
  StartServer(config);
  ASSERT_TRUE(Get("/echo").status.ok());
  EXPECT_EQ(PoolStats().idle_connections(), 1u);
  // No further fetch: only the timer can close it.
  const absl::Time give_up = absl::Now() + absl::Seconds(3);
  while (origin_->open_connections() != 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(origin_->open_connections(), 0);
  v1::HostPoolStats s = PoolStats();
  EXPECT_EQ(s.idle_connections(), 0u);
  EXPECT_EQ(s.closed_idle_timeout_total(), 1u);
  EXPECT_EQ(s.time_wait_estimate(), 1u);  // we closed first
}

TEST_F(ServiceTest, OriginClosingAnIdleConnectionIsNoticedAtOnce) {
  origin_->Stop();
  TestOrigin::Options options;
  options.idle_close_after = absl::Milliseconds(100);
  StartOrigin(options);
  StartServer(LoopbackConfig());
  ASSERT_TRUE(Get("/echo").status.ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(3);
  while (PoolStats().idle_connections() != 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  v1::HostPoolStats s = PoolStats();
  EXPECT_EQ(s.idle_connections(), 0u);
  EXPECT_EQ(s.closed_upstream_total(), 1u);
  EXPECT_EQ(s.time_wait_estimate(), 0u);  // the origin closed first
  CallResult again = Get("/echo");
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_FALSE(again.response.connection_reused());
}

TEST_F(ServiceTest, RedirectsAreFollowedWhenAsked) {
  StartServer(LoopbackConfig());
  v1::FetchRequest request;
  request.set_url(Url("/redirect?to=/status/201&code=302"));
  CallResult plain = Fetch(request);
  ASSERT_TRUE(plain.status.ok());
  EXPECT_EQ(plain.response.status(), 302);
  request.set_follow_redirects(true);
  CallResult followed = Fetch(request);
  ASSERT_TRUE(followed.status.ok()) << followed.status.error_message();
  EXPECT_EQ(followed.response.status(), 201);
  EXPECT_EQ(followed.response.redirects(), 1u);
  EXPECT_EQ(followed.response.effective_url(), Url("/status/201"));
}

TEST_F(ServiceTest, StatsListsPoolsAndTotals) {
  StartServer(LoopbackConfig());
  ASSERT_TRUE(Get("/echo").status.ok());
  v1::StatsRequest request;
  v1::StatsResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->Stats(&context, request, &response).ok());
  ASSERT_EQ(response.pools_size(), 1);
  EXPECT_EQ(response.pool_count(), 1u);
  EXPECT_EQ(response.pools(0).host(), PoolKey());
  EXPECT_EQ(response.pools(0).max_connections(), 64u);
  EXPECT_EQ(response.pools(0).max_idle_connections(), 64u);
  EXPECT_EQ(response.totals().requests_total(), 1u);
  EXPECT_EQ(response.totals().host(), "");
}

}  // namespace
}  // namespace fetchpool::testing
