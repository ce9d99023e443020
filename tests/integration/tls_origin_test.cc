// Issue 11 part 6: TLS to origins. Real HTTPS origins (nginx on loopback,
// certificates made at test time: tests/integration/tls_test_env.h) behind
// a live in-process fetchpoold.
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "engine/curl_errors.h"
#include "server/server_config.h"
#include "tests/integration/nginx_origins_fixture.h"

namespace fetchpool::testing {
namespace {

class TlsOriginTest : public NginxOriginsTest {
 protected:
  CallResult GetUrl(const std::string& url) {
    v1::FetchRequest request;
    request.set_url(url);
    return Fetch(request);
  }

  // The fetch fails TLS_ERROR (UNAVAILABLE) with `words` in its message.
  void ExpectTlsError(TlsOrigin kind, const std::string& words) {
    CallResult r = GetUrl(env_->Url(kind));
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
    EXPECT_EQ(r.reason, "TLS_ERROR") << r.status.error_message();
    EXPECT_TRUE(absl::StrContains(r.status.error_message(), words))
        << "\"" << r.status.error_message() << "\" does not say \"" << words << "\"";
    EXPECT_TRUE(absl::StrContains(r.status.error_message(), env_->PoolKey(kind)))
        << r.status.error_message();
  }

};

TEST_F(TlsOriginTest, GoodCertificateViaCaFileReusesThenResumesOnANewConnection) {
  StartServer(TlsConfig());
  const std::string url = env_->Url(TlsOrigin::kGood);
  CallResult first = GetUrl(url);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(first.response.status(), 200);
  EXPECT_EQ(first.response.body(), "ok\n");
  EXPECT_FALSE(first.response.connection_reused());

  CallResult second = GetUrl(url);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_TRUE(second.response.connection_reused());

  // nginx (keepalive_requests 2) closed that connection after the second
  // response: the third fetch opens a new one, which resumes the session.
  CallResult third = GetUrl(url);
  ASSERT_TRUE(third.status.ok()) << third.status.error_message();
  EXPECT_FALSE(third.response.connection_reused());

  v1::HostPoolStats stats = StatsFor(env_->PoolKey(TlsOrigin::kGood));
  EXPECT_EQ(stats.connections_opened_total(), 2u);
  EXPECT_EQ(stats.tls_handshakes_total(), 2u);
  EXPECT_EQ(stats.tls_sessions_resumed_total(), 1u);
  // Each handshake is timed (TCP connected to TLS established).
  EXPECT_EQ(stats.tls_handshake_time().count(), 2u);
  EXPECT_GT(stats.tls_handshake_time().sum_ms(), 0);
  // ALPN offered HTTP/1.1 alone (HTTP/1.1 is pinned) and nginx took it.
  EXPECT_EQ(stats.protocol(), "http/1.1");
}

TEST_F(TlsOriginTest, ConcurrentNewConnectionsResumeTheLoopsSession) {
  StartServer(TlsConfig());
  const std::string url = env_->Url(TlsOrigin::kGood);
  ASSERT_TRUE(GetUrl(url).status.ok());
  // Four fetches at once, and nginx closing every connection after its
  // second request: several new connections, each offered the session.
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&] {
      if (GetUrl(url).status.ok()) ++ok;
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(ok.load(), 4);
  v1::HostPoolStats stats = StatsFor(env_->PoolKey(TlsOrigin::kGood));
  EXPECT_GE(stats.tls_handshakes_total(), 2u);
  // Every handshake after the first resumed.
  EXPECT_EQ(stats.tls_sessions_resumed_total(), stats.tls_handshakes_total() - 1);
}

TEST_F(TlsOriginTest, WithoutCaFileTheTestCaIsNotTrusted) {
  StartServer(LoopbackConfig());
  ExpectTlsError(TlsOrigin::kGood, "unable to get local issuer certificate");
}

TEST_F(TlsOriginTest, SelfSignedCertificateIsTlsError) {
  StartServer(TlsConfig());
  ExpectTlsError(TlsOrigin::kSelfSigned, "self-signed certificate");
}

TEST_F(TlsOriginTest, WrongNameIsTlsError) {
  StartServer(TlsConfig());
  ExpectTlsError(TlsOrigin::kWrongName, "hostname mismatch");
}

TEST_F(TlsOriginTest, ExpiredCertificateIsTlsError) {
  StartServer(TlsConfig());
  ExpectTlsError(TlsOrigin::kExpired, "certificate has expired");
}

TEST_F(TlsOriginTest, Tls10OnlyOriginIsTlsError) {
  // The origin really speaks TLS 1.0 (to a client that allows it)...
  ASSERT_EQ(std::system(absl::StrCat("echo | openssl s_client -connect 127.0.0.1:",
                                     env_->port(TlsOrigin::kTls10Only),
                                     " -tls1 -cipher DEFAULT@SECLEVEL=0 >/dev/null 2>&1")
                            .c_str()),
            0);
  // ...and fetchpool, which requires TLS 1.2, refuses it.
  StartServer(TlsConfig());
  ExpectTlsError(TlsOrigin::kTls10Only, "TLS 1.2");
}

TEST_F(TlsOriginTest, PerHostClientCertificate) {
  ServerConfig config = TlsConfig();
  StartServer(config);
  // nginx answers 400 when no client certificate was sent.
  CallResult without = GetUrl(env_->Url(TlsOrigin::kClientCert));
  ASSERT_TRUE(without.status.ok()) << without.status.error_message();
  EXPECT_EQ(without.response.status(), 400);
  server_->Shutdown(absl::Seconds(1));
  server_.reset();

  HostConfig host = config.engine.defaults;
  host.fetch.tls_client_cert_file = env_->File("client.pem");
  host.fetch.tls_client_key_file = env_->File("client.key");
  config.engine.per_host[env_->PoolKey(TlsOrigin::kClientCert)] = host;
  ASSERT_TRUE(ValidateServerConfig(config).ok()) << ValidateServerConfig(config);
  StartServer(config);
  CallResult with = GetUrl(env_->Url(TlsOrigin::kClientCert));
  ASSERT_TRUE(with.status.ok()) << with.status.error_message();
  EXPECT_EQ(with.response.status(), 200);
}

TEST_F(TlsOriginTest, InsecureSkipVerifyAcceptsSelfSignedWithAWarning) {
  ServerConfig config = TlsConfig();
  HostConfig host = config.engine.defaults;
  host.fetch.insecure_skip_verify = true;
  const std::string key = env_->PoolKey(TlsOrigin::kSelfSigned);
  config.engine.per_host[key] = host;
  std::vector<std::string> warnings = TlsWarnings(config);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(absl::StrContains(warnings[0], key)) << warnings[0];
  EXPECT_TRUE(absl::StrContains(warnings[0], "insecure_skip_verify")) << warnings[0];
  StartServer(config);
  CallResult r = GetUrl(env_->Url(TlsOrigin::kSelfSigned));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.response.status(), 200);
  // Only that host: another self-signed origin would still fail.
  ExpectTlsError(TlsOrigin::kExpired, "certificate has expired");
}

// The TLS files are read at start: a bad one stops start-up naming the
// setting, the file and where it was set.
class TlsConfigTest : public ::testing::Test {};

TEST(TlsConfigTest, MissingCaFileStopsStartNamingSettingAndLine) {
  absl::StatusOr<ServerConfig> config = BuildServerConfig(
      ServerConfig(), {},
      std::string("max_pools: 10\nhost {\n  pool_key: \"https://api:443\"\n"
                  "  ca_file: \"/nonexistent/ca.pem\"\n}\n"),
      "fetchpool.conf");
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_TRUE(absl::StrContains(message, "ca_file")) << message;
  EXPECT_TRUE(absl::StrContains(message, "/nonexistent/ca.pem")) << message;
  EXPECT_TRUE(absl::StrContains(message, "fetchpool.conf:4")) << message;
  EXPECT_TRUE(absl::StrContains(message, "https://api:443")) << message;
}

TEST(TlsConfigTest, ServiceWideCaFileFlagIsCheckedToo) {
  ServerConfig flags;
  flags.engine.defaults.fetch.ca_file = "/nonexistent/extra.pem";
  absl::StatusOr<ServerConfig> config =
      BuildServerConfig(flags, {"ca_file"}, absl::nullopt, "fetchpool.conf");
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_TRUE(absl::StrContains(message, "--ca_file")) << message;
  EXPECT_TRUE(absl::StrContains(message, "/nonexistent/extra.pem")) << message;
}

TEST(TlsConfigTest, ClientKeyWithoutCertificateIsRefused) {
  absl::StatusOr<ServerConfig> config = BuildServerConfig(
      ServerConfig(), {},
      std::string("host { pool_key: \"https://api:443\" tls_client_key_file: \"/x.key\" }\n"),
      "fetchpool.conf");
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(), "tls_client_cert_file"))
      << config.status().message();
}

// The message of a TLS failure, without a network: curl's words plus the
// reason when curl did not give it.
TEST(TlsErrorTextTest, SaysWhyTheHandshakeFailed) {
  TransferFailure f;
  f.pool_key = "https://api:443";
  f.code = CURLE_PEER_FAILED_VERIFICATION;
  f.curl_detail = "SSL: no alternative certificate subject name matches target host name 'api'";
  f.tls_verify_result = 1;  // curl's "unspecified": nothing more from OpenSSL
  absl::Status s = TransferFailureToStatus(f);
  EXPECT_TRUE(absl::StrContains(s.message(), "hostname mismatch")) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "unspecified")) << s;

  f.curl_detail = "SSL certificate problem: certificate has expired";
  f.tls_verify_result = X509_V_ERR_CERT_HAS_EXPIRED;
  s = TransferFailureToStatus(f);
  EXPECT_TRUE(
      absl::StrContains(s.message(), "TLS with https://api:443 failed: SSL certificate problem"))
      << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "hostname mismatch")) << s;

  f.curl_detail = "";  // curl said nothing: OpenSSL's words for the result
  s = TransferFailureToStatus(f);
  EXPECT_TRUE(absl::StrContains(s.message(), "certificate verification: certificate has expired"))
      << s;

  f.code = CURLE_SSL_CONNECT_ERROR;
  f.curl_detail = "OpenSSL/3.0.19: error:0A00042E:SSL routines::tlsv1 alert protocol version";
  f.tls_verify_result = 1;
  s = TransferFailureToStatus(f);
  EXPECT_TRUE(absl::StrContains(s.message(), "TLS 1.2 at least is required")) << s;
}

}  // namespace
}  // namespace fetchpool::testing
