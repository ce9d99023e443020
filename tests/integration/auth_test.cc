// Caller identity end to end: plaintext as anonymous, bearer tokens, TLS,
// mTLS with SPIFFE and DNS identities, the per-caller in-flight quota, the
// WatchStats cap and --stats_callers, through a live fetchpool server and
// real gRPC clients. Certificates are made at test time with openssl
// (make_test_certs.sh). Every address is on loopback.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <curl/curl.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/integration/service_fixture.h"
#include "tests/poll_until.h"

namespace fetchpool::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kWebhooksToken[] = "webhooks-0123456789abcdef";
constexpr char kCrawlerToken[] = "crawler-0123456789abcdef";
constexpr char kSpiffeId[] = "spiffe://example.org/ns/test/sa/webhooks";

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// GET http://127.0.0.1:port/metrics.
std::string Scrape(int port) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, absl::StrCat("http://127.0.0.1:", port, "/metrics").c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
  return body;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

class AuthTest : public ServiceTest {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/fetchpool-auth-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = new std::string(pattern);
    const std::string command =
        absl::StrCat("sh ", FETCHPOOL_MAKE_TEST_CERTS, " ", *dir_, " >/dev/null 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    WriteText(File("tokens"), absl::StrCat("# test callers\nwebhooks ", kWebhooksToken,
                                           "\ncrawler ", kCrawlerToken, "\n"));
  }
  static void TearDownTestSuite() {
    if (dir_ == nullptr) return;
    std::system(absl::StrCat("rm -rf ", *dir_).c_str());
    delete dir_;
    dir_ = nullptr;
  }
  static std::string File(const std::string& name) { return absl::StrCat(*dir_, "/", name); }

  static ServerConfig TlsConfig(bool mtls) {
    ServerConfig config = LoopbackConfig();
    config.tls_cert_file = File("server.pem");
    config.tls_key_file = File("server.key");
    if (mtls) config.tls_client_ca_file = File("ca.pem");
    return config;
  }

  // A client over TLS trusting the test CA; `client` names a key pair
  // ("spiffe", "dns", "stranger") or "" for none.
  std::unique_ptr<v1::FetchPool::Stub> TlsStub(const std::string& client) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadText(File("ca.pem"));
    if (!client.empty()) {
      options.pem_private_key = ReadText(File(client + ".key"));
      options.pem_cert_chain = ReadText(File(client + ".pem"));
    }
    tls_channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                       grpc::SslCredentials(options));
    return v1::FetchPool::NewStub(tls_channel_);
  }

  static CallResult Call(v1::FetchPool::Stub& stub, const v1::FetchRequest& request,
                         const std::string& token = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    CallResult out;
    out.status = stub.Fetch(&context, request, &out.response);
    out.reason = ReasonTrailer(context);
    return out;
  }
  CallResult GetAs(v1::FetchPool::Stub& stub, const std::string& token,
                   const std::string& path = "/bytes?n=10") {
    v1::FetchRequest request;
    request.set_url(Url(path));
    return Call(stub, request, token);
  }

  static grpc::Status Stats(v1::FetchPool::Stub& stub, const std::string& token,
                            const std::string& host, v1::StatsResponse* response,
                            std::string* reason = nullptr) {
    v1::StatsRequest request;
    request.set_host(host);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    grpc::Status status = stub.Stats(&context, request, response);
    if (reason != nullptr) *reason = ReasonTrailer(context);
    return status;
  }

  // grpc.health.v1.Health/Check with no credentials at all.
  static grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::GenericStub stub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   &response, [&](grpc::Status status) { done.set_value(std::move(status)); });
    return done.get_future().get();
  }

  static void ExpectUnauthenticated(const grpc::Status& status, const std::string& reason) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
    EXPECT_EQ(reason, "UNAUTHENTICATED");
  }

  uint64_t Count(const std::string& caller, const std::string& reason) {
    return server_->caller_outcomes().CountOf(caller, reason);
  }

  static std::string* dir_;
  std::shared_ptr<grpc::Channel> tls_channel_;
};

std::string* AuthTest::dir_ = nullptr;

TEST_F(AuthTest, PlaintextDefaultServesEveryoneAsAnonymous) {
  StartServer(LoopbackConfig());
  CallResult r = Get("/bytes?n=10");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  // A token means nothing when none are configured.
  r = GetAs(*stub_, "not-a-configured-token-at-all");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(Count("anonymous", "OK"), 2u);
  v1::StatsResponse stats;
  EXPECT_TRUE(Stats(*stub_, "", PoolKey(), &stats).ok());
  EXPECT_EQ(stats.pools_size(), 1);
}

TEST_F(AuthTest, TokensMissingWrongAndRight) {
  ServerConfig config = LoopbackConfig();
  config.auth_tokens_file = File("tokens");
  StartServer(config);

  CallResult missing = GetAs(*stub_, "");
  ExpectUnauthenticated(missing.status, missing.reason);
  CallResult wrong = GetAs(*stub_, "webhooks-0123456789abcdeX");
  ExpectUnauthenticated(wrong.status, wrong.reason);
  EXPECT_EQ(origin_->requests_served(), 0u);

  CallResult right = GetAs(*stub_, kWebhooksToken);
  ASSERT_TRUE(right.status.ok()) << right.status.error_message();
  EXPECT_EQ(right.response.status(), 200);
  EXPECT_EQ(Count("webhooks", "OK"), 1u);
  EXPECT_EQ(Count("anonymous", "OK"), 0u);

  // Stats, WatchStats and FetchStream are closed to callers without a token too.
  v1::StatsResponse stats;
  std::string reason;
  ExpectUnauthenticated(Stats(*stub_, "", "", &stats, &reason), reason);
  EXPECT_TRUE(Stats(*stub_, kCrawlerToken, "", &stats).ok());
  {
    grpc::ClientContext context;
    v1::WatchStatsRequest request;
    auto reader = stub_->WatchStats(&context, request);
    v1::StatsResponse message;
    EXPECT_FALSE(reader->Read(&message));
    grpc::Status status = reader->Finish();
    ExpectUnauthenticated(status, ReasonTrailer(context));
  }
  {
    grpc::ClientContext context;
    auto stream = stub_->FetchStream(&context);
    v1::FetchRequest request;
    request.set_url(Url("/bytes?n=1"));
    stream->Write(request);
    stream->WritesDone();
    v1::FetchResponse message;
    EXPECT_FALSE(stream->Read(&message));
    grpc::Status status = stream->Finish();
    ExpectUnauthenticated(status, ReasonTrailer(context));
  }
  // Health stays open.
  EXPECT_TRUE(HealthCheck(channel_).ok());
}

TEST_F(AuthTest, TlsWithoutClientCaServesAnonymousCallers) {
  StartServer(TlsConfig(/*mtls=*/false));
  std::unique_ptr<v1::FetchPool::Stub> stub = TlsStub("");
  CallResult r = GetAs(*stub, "");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(Count("anonymous", "OK"), 1u);
  // A plaintext client cannot talk to the TLS port.
  CallResult plain = Get("/bytes?n=1", absl::Seconds(5));
  EXPECT_FALSE(plain.status.ok());
  EXPECT_TRUE(HealthCheck(tls_channel_).ok());
}

TEST_F(AuthTest, MtlsNeedsAClientCertificateFromTheClientCa) {
  ServerConfig config = TlsConfig(/*mtls=*/true);
  config.metrics_listen = "127.0.0.1:0";
  StartServer(config);

  // No client certificate: the handshake passes, the call does not.
  std::unique_ptr<v1::FetchPool::Stub> none = TlsStub("");
  CallResult r = GetAs(*none, "");
  ExpectUnauthenticated(r.status, r.reason);
  EXPECT_TRUE(HealthCheck(tls_channel_).ok());  // Health stays open

  // A certificate from another CA fails the TLS handshake.
  std::unique_ptr<v1::FetchPool::Stub> stranger = TlsStub("stranger");
  r = GetAs(*stranger, "");
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(origin_->requests_served(), 0u);

  std::unique_ptr<v1::FetchPool::Stub> spiffe = TlsStub("spiffe");
  r = GetAs(*spiffe, "");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(Count(kSpiffeId, "OK"), 1u);

  std::unique_ptr<v1::FetchPool::Stub> dns = TlsStub("dns");
  r = GetAs(*dns, "", "/status/404");  // an upstream status is an answer, not an error
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(Count("client.internal", "OK"), 1u);

  // The identity is the metric's label, on the server's own /metrics.
  ASSERT_NE(server_->metrics_port(), 0);
  EXPECT_THAT(Scrape(server_->metrics_port()),
              HasSubstr(absl::StrCat("fetchpool_caller_requests_total{caller=\"", kSpiffeId,
                                     "\",reason=\"OK\"} 1")));
}

TEST_F(AuthTest, TokensAndMtlsTogetherTakeEither) {
  ServerConfig config = TlsConfig(/*mtls=*/true);
  config.auth_tokens_file = File("tokens");
  StartServer(config);
  std::unique_ptr<v1::FetchPool::Stub> none = TlsStub("");
  CallResult r = GetAs(*none, kCrawlerToken);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(Count("crawler", "OK"), 1u);
  r = GetAs(*none, "");
  ExpectUnauthenticated(r.status, r.reason);
  std::unique_ptr<v1::FetchPool::Stub> spiffe = TlsStub("spiffe");
  r = GetAs(*spiffe, "");
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(Count(kSpiffeId, "OK"), 1u);
  r = GetAs(*spiffe, "crawler-0123456789abcdeX");  // a wrong token is never ignored
  ExpectUnauthenticated(r.status, r.reason);
}

TEST_F(AuthTest, BadFilesStopStartNamingTheSetting) {
  ServerConfig config = TlsConfig(/*mtls=*/false);
  config.tls_cert_file = File("tokens");  // not a certificate
  absl::StatusOr<std::unique_ptr<FetchPoolServer>> server = FetchPoolServer::Start(config);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("tls_cert_file"));

  config = TlsConfig(/*mtls=*/false);
  config.tls_key_file = File("spiffe.key");  // another certificate's key
  server = FetchPoolServer::Start(config);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("tls_key_file"));

  WriteText(File("bad-tokens"), "webhooks short\n");
  config = LoopbackConfig();
  config.auth_tokens_file = File("bad-tokens");
  server = FetchPoolServer::Start(config);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(),
              AllOf(HasSubstr("--auth_tokens_file"), HasSubstr("bad-tokens:1")));
}

TEST_F(AuthTest, CallerAtItsInFlightCapDoesNotStopAnother) {
  ServerConfig config = LoopbackConfig();
  config.auth_tokens_file = File("tokens");
  config.max_inflight_per_caller = 2;
  StartServer(config);

  // webhooks fills its two slots with slow fetches.
  std::vector<std::thread> slow;
  std::vector<CallResult> slow_results(2);
  for (int i = 0; i < 2; ++i) {
    slow.emplace_back(
        [&, i] { slow_results[i] = GetAs(*stub_, kWebhooksToken, "/sleep?ms=1500"); });
  }
  ASSERT_TRUE(PollUntil([&] { return server_->caller_quotas().InFlight("webhooks") == 2; },
                        absl::Seconds(20)));

  CallResult over = GetAs(*stub_, kWebhooksToken);
  EXPECT_EQ(over.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(over.reason, "CALLER_QUOTA_EXCEEDED");
  {  // Through FetchStream as well: the quota is per caller, across both RPCs.
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kWebhooksToken));
    auto stream = stub_->FetchStream(&context);
    v1::FetchRequest request;
    request.set_id("s1");
    request.set_url(Url("/bytes?n=1"));
    ASSERT_TRUE(stream->Write(request));
    stream->WritesDone();
    v1::FetchResponse answer;
    ASSERT_TRUE(stream->Read(&answer));
    EXPECT_EQ(answer.id(), "s1");
    EXPECT_EQ(answer.error().reason(), "CALLER_QUOTA_EXCEEDED");
    while (stream->Read(&answer)) {
    }
    EXPECT_TRUE(stream->Finish().ok());
  }
  // crawler is not affected.
  CallResult other = GetAs(*stub_, kCrawlerToken);
  ASSERT_TRUE(other.status.ok()) << other.status.error_message();

  for (std::thread& t : slow) t.join();
  for (const CallResult& r : slow_results) EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(server_->caller_quotas().InFlight("webhooks"), 0u);
  EXPECT_EQ(Count("webhooks", "CALLER_QUOTA_EXCEEDED"), 2u);
  EXPECT_EQ(Count("webhooks", "OK"), 2u);
  EXPECT_EQ(Count("crawler", "OK"), 1u);
  // Now webhooks may fetch again.
  EXPECT_TRUE(GetAs(*stub_, kWebhooksToken).status.ok());
}

TEST_F(AuthTest, OneWatchStatsPastTheCapIsRefused) {
  ServerConfig config = LoopbackConfig();
  config.max_watch_streams = 1;
  StartServer(config);
  auto first_context = std::make_unique<grpc::ClientContext>();
  v1::WatchStatsRequest request;
  auto first = stub_->WatchStats(first_context.get(), request);
  v1::StatsResponse message;
  ASSERT_TRUE(first->Read(&message));  // the first one is open

  {
    grpc::ClientContext context;
    auto second = stub_->WatchStats(&context, request);
    EXPECT_FALSE(second->Read(&message));
    grpc::Status status = second->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(ReasonTrailer(context), "TOO_MANY_STREAMS");
  }
  first_context->TryCancel();
  while (first->Read(&message)) {
  }
  first->Finish();
  // Its slot comes back once gRPC is done with the call.
  EXPECT_TRUE(PollUntil(
      [&] {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        auto again = stub_->WatchStats(&context, request);
        const bool ok = again->Read(&message);
        context.TryCancel();
        again->Finish();
        return ok;
      },
      absl::Seconds(20)));
}

TEST_F(AuthTest, StatsCallersSeePoolKeysOthersGetTotalsOnly) {
  ServerConfig config = LoopbackConfig();
  config.auth_tokens_file = File("tokens");
  config.stats_callers = {"crawler"};
  StartServer(config);
  ASSERT_TRUE(GetAs(*stub_, kWebhooksToken).status.ok());

  v1::StatsResponse full;
  ASSERT_TRUE(Stats(*stub_, kCrawlerToken, "", &full).ok());
  EXPECT_EQ(full.pools_size(), 1);
  ASSERT_TRUE(Stats(*stub_, kCrawlerToken, PoolKey(), &full).ok());
  EXPECT_EQ(full.pools_size(), 1);

  v1::StatsResponse totals;
  ASSERT_TRUE(Stats(*stub_, kWebhooksToken, "", &totals).ok());
  EXPECT_EQ(totals.pools_size(), 0);
  EXPECT_EQ(totals.pool_count(), 1u);
  EXPECT_GE(totals.totals().requests_total(), 1u);
  EXPECT_EQ(totals.totals().host(), "");

  std::string reason;
  grpc::Status denied = Stats(*stub_, kWebhooksToken, PoolKey(), &totals, &reason);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(reason, "STATS_DENIED");

  {  // WatchStats: totals only, and no host.
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kWebhooksToken));
    v1::WatchStatsRequest request;
    auto reader = stub_->WatchStats(&context, request);
    v1::StatsResponse message;
    ASSERT_TRUE(reader->Read(&message));
    EXPECT_EQ(message.pools_size(), 0);
    EXPECT_EQ(message.pool_count(), 1u);
    context.TryCancel();
    while (reader->Read(&message)) {
    }
    reader->Finish();
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kWebhooksToken));
    v1::WatchStatsRequest request;
    request.set_host(PoolKey());
    auto reader = stub_->WatchStats(&context, request);
    v1::StatsResponse message;
    EXPECT_FALSE(reader->Read(&message));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(ReasonTrailer(context), "STATS_DENIED");
  }
}

}  // namespace
}  // namespace fetchpool::testing
