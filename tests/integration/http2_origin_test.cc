// Issue 14: HTTP/2 toward origins, negotiated per host (the http_version
// setting): by ALPN over TLS, by prior knowledge in cleartext (h2c), or
// HTTP/1.1 forced. Real nginx origins on loopback
// (tests/integration/tls_test_env.h) behind a live in-process fetchpoold.
#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"

#include "server/server_config.h"
#include "tests/integration/nginx_origins_fixture.h"
#include "tests/poll_until.h"

namespace fetchpool::testing {
namespace {

class Http2OriginTest : public NginxOriginsTest {
 protected:
  // Loopback allowed, the test CA trusted, and `version` for every host.
  static ServerConfig ConfigWith(HttpVersion version) {
    ServerConfig config = TlsConfig();
    config.engine.defaults.fetch.http_version = version;
    return config;
  }

  // Three fetches in a row: each OK with "ok\n", the second and third on
  // the first one's connection. Returns the HTTP version of the responses.
  std::string ThreeFetchesOnOneConnection(TlsOrigin kind) {
    std::string version;
    for (int i = 0; i < 3; ++i) {
      v1::FetchRequest request;
      request.set_url(env_->Url(kind));
      CallResult r = Fetch(request);
      EXPECT_TRUE(r.status.ok()) << i << ": " << r.status.error_message();
      EXPECT_EQ(r.response.status(), 200);
      EXPECT_EQ(r.response.body(), "ok\n");
      EXPECT_EQ(r.response.connection_reused(), i > 0) << i;
      version = r.response.http_version();
    }
    v1::HostPoolStats stats = StatsFor(env_->PoolKey(kind));
    EXPECT_EQ(stats.connections_opened_total(), 1u);
    EXPECT_EQ(stats.reused_requests_total(), 2u);
    return version;
  }

  // `count` fetches, `concurrency` at a time (one thread each), the i-th
  // made by `make(i)`. While they run, the pool's streams_in_use is
  // sampled: the most seen goes to *max_streams_seen.
  std::vector<CallResult> FetchConcurrently(int count, int concurrency,
                                            const std::function<v1::FetchRequest(int)>& make,
                                            const std::string& pool_key,
                                            uint32_t* max_streams_seen = nullptr) {
    std::vector<CallResult> results(count);
    std::atomic<int> next{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> callers;
    for (int t = 0; t < concurrency; ++t) {
      callers.emplace_back([&] {
        for (int i = next++; i < count; i = next++) {
          results[i] = Fetch(make(i), absl::Seconds(30));
        }
      });
    }
    uint32_t most = 0;
    std::thread sampler([&] {
      while (!done.load()) {
        most = std::max(most, StatsFor(pool_key).streams_in_use());
        absl::SleepFor(absl::Milliseconds(20));
      }
    });
    for (std::thread& t : callers) t.join();
    done = true;
    sampler.join();
    if (max_streams_seen != nullptr) *max_streams_seen = most;
    return results;
  }

  // 64 fetches of /slow (about a second each) at once against `kind`.
  std::vector<CallResult> SixtyFourSlowFetches(TlsOrigin kind, uint32_t* max_streams_seen) {
    return FetchConcurrently(
        64, 64,
        [&](int) {
          v1::FetchRequest request;
          request.set_url(env_->Url(kind, "/slow"));
          return request;
        },
        env_->PoolKey(kind), max_streams_seen);
  }

  static void ExpectAllSlowOk(const std::vector<CallResult>& results) {
    for (size_t i = 0; i < results.size(); ++i) {
      EXPECT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
      EXPECT_EQ(results[i].response.status(), 200) << i;
      EXPECT_EQ(results[i].response.body().size(), 4000u) << i;
    }
  }

};

TEST_F(Http2OriginTest, AutoNegotiatesH2ByAlpn) {
  StartServer(ConfigWith(HttpVersion::kAuto));
  EXPECT_EQ(ThreeFetchesOnOneConnection(TlsOrigin::kH2), "HTTP/2");
  v1::HostPoolStats stats = StatsFor(env_->PoolKey(TlsOrigin::kH2));
  EXPECT_EQ(stats.protocol(), "h2");
  EXPECT_EQ(stats.tls_handshakes_total(), 1u);
}

TEST_F(Http2OriginTest, AutoSpeaksHttp11ToAnOriginWithoutH2) {
  StartServer(ConfigWith(HttpVersion::kAuto));
  // kGood has no http2 (and ends each connection after 2 requests).
  v1::FetchRequest request;
  request.set_url(env_->Url(TlsOrigin::kGood));
  CallResult r = Fetch(request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.http_version(), "HTTP/1.1");
  EXPECT_EQ(StatsFor(env_->PoolKey(TlsOrigin::kGood)).protocol(), "http/1.1");
}

TEST_F(Http2OriginTest, ForcedHttp11OffersOnlyHttp11ToAnH2Origin) {
  StartServer(ConfigWith(HttpVersion::kHttp11));
  EXPECT_EQ(ThreeFetchesOnOneConnection(TlsOrigin::kH2), "HTTP/1.1");
  EXPECT_EQ(StatsFor(env_->PoolKey(TlsOrigin::kH2)).protocol(), "http/1.1");
}

// libcurl 7.88.1 fails a prior-knowledge request on a reused h2c
// connection; the engine opens with prior knowledge and reuses as HTTP/2
// (CurlConnection::ConfigureHttpVersion), so the second and third fetch
// ride the first one's connection.
TEST_F(Http2OriginTest, H2cByPriorKnowledgeReusesItsConnection) {
  StartServer(ConfigWith(HttpVersion::kH2c));
  EXPECT_EQ(ThreeFetchesOnOneConnection(TlsOrigin::kH2c), "HTTP/2");
  EXPECT_EQ(StatsFor(env_->PoolKey(TlsOrigin::kH2c)).protocol(), "h2c");
}

TEST_F(Http2OriginTest, PerHostSettingOverridesTheServiceWideOne) {
  ServerConfig config = ConfigWith(HttpVersion::kHttp11);
  HostConfig h2 = config.engine.defaults;
  h2.fetch.http_version = HttpVersion::kAuto;
  config.engine.per_host[env_->PoolKey(TlsOrigin::kH2)] = h2;
  StartServer(config);
  EXPECT_EQ(ThreeFetchesOnOneConnection(TlsOrigin::kH2), "HTTP/2");
}

// The idle timer and the TIME_WAIT books are per connection, HTTP/2 or
// not: the one h2 connection closes on fetchpool's idle timer, counted as
// our close (one TIME_WAIT here), with no stream left behind.
TEST_F(Http2OriginTest, AnIdleH2ConnectionClosesOnTheIdleTimerAsOurClose) {
  ServerConfig config = ConfigWith(HttpVersion::kAuto);
  config.engine.defaults.pool.idle_timeout = absl::Milliseconds(300);
  StartServer(config);
  const std::string key = env_->PoolKey(TlsOrigin::kH2);
  EXPECT_EQ(ThreeFetchesOnOneConnection(TlsOrigin::kH2), "HTTP/2");
  const uint32_t kernel_before = StatsFor(key).time_wait_kernel();
  ASSERT_TRUE(PollUntil([&] { return StatsFor(key).closed_idle_timeout_total() == 1; },
                        absl::Seconds(5)));
  v1::HostPoolStats stats = StatsFor(key);
  EXPECT_EQ(stats.connections_closed_total(), 1u);
  EXPECT_EQ(stats.local_closes_total(), 1u);
  EXPECT_EQ(stats.closed_upstream_total(), 0u);
  EXPECT_EQ(stats.time_wait_estimate(), 1u);
  EXPECT_EQ(stats.idle_connections(), 0u);
  EXPECT_EQ(stats.streams_in_use(), 0u);
  // The kernel's count moves too, once the origin has answered our FIN
  // (other tests' sockets to this port may expire meanwhile, so it is
  // printed, not asserted).
  PollUntil([&] { return StatsFor(key).time_wait_kernel() > kernel_before; }, absl::Seconds(2));
  std::printf("h2 idle close: TIME_WAIT to the origin, kernel: %u before, %u after\n",
              kernel_before, StatsFor(key).time_wait_kernel());
  // The next fetch opens a new connection.
  v1::FetchRequest request;
  request.set_url(env_->Url(TlsOrigin::kH2));
  CallResult r = Fetch(request);
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_FALSE(r.response.connection_reused());
  EXPECT_EQ(StatsFor(key).connections_opened_total(), 2u);
}

// Issue 14's multiplexing check: 64 concurrent fetches to an h2 origin
// with the default stream cap (100) ride one connection.
TEST_F(Http2OriginTest, SixtyFourConcurrentFetchesShareOneH2Connection) {
  StartServer(ConfigWith(HttpVersion::kAuto));
  uint32_t most_streams = 0;
  std::vector<CallResult> results = SixtyFourSlowFetches(TlsOrigin::kH2, &most_streams);
  ExpectAllSlowOk(results);
  for (const CallResult& r : results) EXPECT_EQ(r.response.http_version(), "HTTP/2");
  v1::HostPoolStats stats = StatsFor(env_->PoolKey(TlsOrigin::kH2));
  EXPECT_EQ(stats.connections_opened_total(), 1u);
  EXPECT_EQ(stats.tls_handshakes_total(), 1u);
  EXPECT_EQ(stats.max_streams_per_connection(), 100u);
  EXPECT_EQ(stats.protocol(), "h2");
  EXPECT_GT(most_streams, 1u);
  std::printf("h2, cap 100: %llu connection(s) opened, at most %u streams in use seen\n",
              static_cast<unsigned long long>(stats.connections_opened_total()), most_streams);
}

// The stream cap: 10 streams per connection, 64 fetches at once, 7 connections.
TEST_F(Http2OriginTest, StreamCapOfTenOpensSevenConnectionsForSixtyFour) {
  ServerConfig config = ConfigWith(HttpVersion::kAuto);
  config.engine.defaults.pool.max_streams_per_connection = 10;
  StartServer(config);
  uint32_t most_streams = 0;
  std::vector<CallResult> results = SixtyFourSlowFetches(TlsOrigin::kH2, &most_streams);
  ExpectAllSlowOk(results);
  v1::HostPoolStats stats = StatsFor(env_->PoolKey(TlsOrigin::kH2));
  EXPECT_EQ(stats.connections_opened_total(), 7u);
  EXPECT_EQ(stats.max_streams_per_connection(), 100u);  // what curl allows; capped at 10
  EXPECT_GT(most_streams, 10u);
  std::printf("h2, cap 10: %llu connections opened, at most %u streams in use seen\n",
              static_cast<unsigned long long>(stats.connections_opened_total()), most_streams);
}

TEST_F(Http2OriginTest, SixtyFourConcurrentFetchesShareOneH2cConnection) {
  StartServer(ConfigWith(HttpVersion::kH2c));
  uint32_t most_streams = 0;
  std::vector<CallResult> results = SixtyFourSlowFetches(TlsOrigin::kH2c, &most_streams);
  ExpectAllSlowOk(results);
  v1::HostPoolStats stats = StatsFor(env_->PoolKey(TlsOrigin::kH2c));
  EXPECT_EQ(stats.connections_opened_total(), 1u);
  EXPECT_EQ(stats.protocol(), "h2c");
  EXPECT_GT(most_streams, 1u);
  std::printf("h2c, cap 100: %llu connection(s) opened, at most %u streams in use seen\n",
              static_cast<unsigned long long>(stats.connections_opened_total()), most_streams);
}

// HTTP/1.1 forced: one request per connection at a time, as before.
TEST_F(Http2OriginTest, ForcedHttp11OpensAConnectionPerConcurrentFetch) {
  StartServer(ConfigWith(HttpVersion::kHttp11));
  std::vector<CallResult> results = FetchConcurrently(
      16, 16,
      [&](int) {
        v1::FetchRequest request;
        request.set_url(env_->Url(TlsOrigin::kH2, "/slow"));
        return request;
      },
      env_->PoolKey(TlsOrigin::kH2));
  ExpectAllSlowOk(results);
  for (const CallResult& r : results) EXPECT_EQ(r.response.http_version(), "HTTP/1.1");
  v1::HostPoolStats stats = StatsFor(env_->PoolKey(TlsOrigin::kH2));
  EXPECT_EQ(stats.connections_opened_total(), 16u);
  EXPECT_EQ(stats.protocol(), "http/1.1");
}

// The origin allows 8 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS),
// which libcurl 7.88 does not report: the pool puts up to 100 on the first
// connection, curl wants a new connection for the 9th stream, the engine
// refuses it (a stream on a shared connection opens no socket), sends that
// fetch again (nothing went out), and the connection takes no new stream.
// curl's text named the limit ("MAX_CONCURRENT_STREAMS reached, skip (8)"):
// the host's next connections are given 8 streams each.
TEST_F(Http2OriginTest, AnOriginStreamLimitBelowThePoolsCostsConnectionsNotFetches) {
  StartServer(ConfigWith(HttpVersion::kAuto));
  uint32_t most_streams = 0;
  std::vector<CallResult> results = SixtyFourSlowFetches(TlsOrigin::kH2FewStreams, &most_streams);
  ExpectAllSlowOk(results);
  v1::HostPoolStats stats = StatsFor(env_->PoolKey(TlsOrigin::kH2FewStreams));
  EXPECT_GE(stats.connections_opened_total(), 8u);
  EXPECT_LE(stats.connections_opened_total(), 16u);  // 8 when all arrive at once
  EXPECT_EQ(stats.max_streams_per_connection(), 8u);
  std::printf("origin limit 8 streams: %llu connections opened, %llu retries, at most %u "
              "streams in use seen\n",
              static_cast<unsigned long long>(stats.connections_opened_total()),
              static_cast<unsigned long long>(stats.retries_total()), most_streams);
}

// An aborted stream (the call's deadline, on_deadline abort) resets that
// stream only: curl_multi_remove_handle mid-transfer on an HTTP/2
// connection. The other stream finishes, and the connection is reused.
TEST_F(Http2OriginTest, AnAbortedStreamLeavesItsConnectionAndTheOtherStreams) {
  ServerConfig config = ConfigWith(HttpVersion::kAuto);
  config.engine.defaults.fetch.on_deadline = OnDeadline::kAbort;
  StartServer(config);
  const std::string key = env_->PoolKey(TlsOrigin::kH2);
  // One connection first, so both slow fetches ride it.
  v1::FetchRequest warm;
  warm.set_url(env_->Url(TlsOrigin::kH2));
  ASSERT_TRUE(Fetch(warm).status.ok());
  v1::FetchRequest slow;
  slow.set_url(env_->Url(TlsOrigin::kH2, "/slow"));
  CallResult kept;
  std::thread keeper([&] { kept = Fetch(slow, absl::Seconds(10)); });
  absl::SleepFor(absl::Milliseconds(100));
  CallResult cut = Fetch(slow, absl::Milliseconds(300));
  keeper.join();
  EXPECT_EQ(cut.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(kept.status.ok()) << kept.status.error_message();
  EXPECT_EQ(kept.response.body().size(), 4000u);
  ASSERT_TRUE(Fetch(warm).status.ok());
  v1::HostPoolStats stats = StatsFor(key);
  EXPECT_EQ(stats.connections_opened_total(), 1u);
  EXPECT_EQ(stats.closed_aborted_total(), 0u);
  EXPECT_EQ(stats.connections_closed_total(), 0u);
}

// GOAWAY is HTTP/2's reuse race. nginx sends it after 10 requests on a
// connection; the streams above its last-stream-id were never processed
// and are replayed (POST included) on a new connection; those at or below
// it finish. Every fetch succeeds and nginx serves no POST twice.
TEST_F(Http2OriginTest, GoAwayReplaysTheRefusedStreamsAndNoPostTwice) {
  StartServer(ConfigWith(HttpVersion::kAuto));
  const std::string before = env_->AccessLog();
  constexpr int kFetches = 200;
  std::vector<CallResult> results = FetchConcurrently(
      kFetches, 32,
      [&](int i) {
        v1::FetchRequest request;
        if (i % 2 == 0) {
          request.set_url(env_->Url(TlsOrigin::kH2GoAway, absl::StrCat("/g/", i)));
        } else {
          request.set_url(env_->Url(TlsOrigin::kH2GoAway, absl::StrCat("/p/", i)));
          request.set_method("POST");
          request.set_body(absl::StrCat("body of fetch ", i));
        }
        return request;
      },
      env_->PoolKey(TlsOrigin::kH2GoAway));
  int ok = 0;
  for (int i = 0; i < kFetches; ++i) {
    EXPECT_TRUE(results[i].status.ok()) << i << ": " << results[i].reason << " "
                                        << results[i].status.error_message();
    EXPECT_EQ(results[i].response.status(), 200) << i;
    if (results[i].status.ok()) ++ok;
  }
  // nginx logs a request when it ends: give the last lines a moment.
  std::map<std::string, int> served;
  std::map<std::string, std::string> logged;  // the line, for messages
  for (int tries = 0; tries < 50; ++tries) {
    served.clear();
    const std::string log = env_->AccessLog().substr(before.size());
    for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
      const size_t quote = line.find('"');
      if (quote == absl::string_view::npos) continue;
      std::vector<absl::string_view> request = absl::StrSplit(line.substr(quote + 1), ' ');
      if (request.size() >= 2) {
        const std::string key = absl::StrCat(request[0], " ", request[1]);
        ++served[key];
        logged[key] = std::string(line);
      }
    }
    if (served.size() >= static_cast<size_t>(kFetches)) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  int posts_twice = 0;
  int gets_twice = 0;
  for (int i = 0; i < kFetches; ++i) {
    const std::string key =
        i % 2 == 0 ? absl::StrCat("GET /g/", i) : absl::StrCat("POST /p/", i);
    EXPECT_EQ(served[key], 1) << key;
    if (!results[i].status.ok()) std::printf("failed %d, nginx logged: %s\n", i, logged[key].c_str());
    if (served[key] > 1) ++(i % 2 == 0 ? gets_twice : posts_twice);
  }
  EXPECT_EQ(posts_twice, 0);
  v1::HostPoolStats stats = StatsFor(env_->PoolKey(TlsOrigin::kH2GoAway));
  // 200 requests at 10 per connection: at least 20 connections.
  EXPECT_GE(stats.connections_opened_total(), 20u);
  // 32 streams at once on connections that serve 10: some are refused.
  EXPECT_GT(stats.refused_streams_total(), 0u);
  std::printf("GOAWAY every 10 requests: %d/%d OK, %llu connections opened, %llu refused "
              "streams sent again, %llu retries, %d POSTs and %d GETs served twice\n",
              ok, kFetches, static_cast<unsigned long long>(stats.connections_opened_total()),
              static_cast<unsigned long long>(stats.refused_streams_total()),
              static_cast<unsigned long long>(stats.retries_total()), posts_twice, gets_twice);
}

}  // namespace
}  // namespace fetchpool::testing
