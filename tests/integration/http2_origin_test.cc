// Issue 14: HTTP/2 toward origins, negotiated per host (the http_version
// setting): by ALPN over TLS, by prior knowledge in cleartext (h2c), or
// HTTP/1.1 forced. Real nginx origins on loopback
// (tests/integration/tls_test_env.h) behind a live in-process fetchpoold.
#include <string>

#include "server/server_config.h"
#include "tests/integration/nginx_origins_fixture.h"

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

}  // namespace
}  // namespace fetchpool::testing
