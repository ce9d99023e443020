// FetchPoolServer::Reload in-process, behind a real gRPC server: what a
// reload changes for the next call (bearer tokens, the egress policy) and
// what makes it refuse (a bad tokens file, a restart-only setting), the old
// config then staying in force. The SIGHUP / --watch_config path and the
// fetches in flight across a reload are in tests/server/lifecycle/reload_test.sh.
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/integration/service_fixture.h"

namespace fetchpool::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kOldToken[] = "old-caller-0123456789abcdef";
constexpr char kNewToken[] = "new-caller-0123456789abcdef";

class ConfigReloadTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    char pattern[] = "/tmp/fetchpool-reload-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    ServiceTest::TearDown();
    std::system(absl::StrCat("rm -rf ", dir_).c_str());
  }

  std::string WriteTokens(const std::string& name, const std::string& lines) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path, std::ios::trunc) << lines;
    return path;
  }

  CallResult GetAs(const std::string& token) {
    v1::FetchRequest request;
    request.set_url(Url("/bytes?n=10"));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    CallResult out;
    out.status = stub_->Fetch(&context, request, &out.response);
    out.reason = ReasonTrailer(context);
    return out;
  }

  std::string dir_;
};

TEST_F(ConfigReloadTest, TokensChangeForTheNextCall) {
  ServerConfig config = LoopbackConfig();
  config.auth_tokens_file = WriteTokens("tokens", absl::StrCat("old-caller ", kOldToken, "\n"));
  StartServer(config);
  ASSERT_TRUE(GetAs(kOldToken).status.ok());

  ServerConfig next = config;
  next.auth_tokens_file = WriteTokens("tokens2", absl::StrCat("new-caller ", kNewToken, "\n"));
  ASSERT_TRUE(server_->Reload(next, "test").ok());
  EXPECT_EQ(GetAs(kOldToken).status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(GetAs(kNewToken).status.ok());
  EXPECT_EQ(server_->auth_token_count(), 1u);

  // A tokens file that does not load is refused whole: the new token stays.
  ServerConfig bad = next;
  bad.auth_tokens_file = WriteTokens("tokens3", "someone short\n");
  const absl::Status refused = server_->Reload(bad, "test");
  EXPECT_THAT(std::string(refused.message()), HasSubstr("tokens3"));
  EXPECT_TRUE(GetAs(kNewToken).status.ok());
  EXPECT_EQ(server_->reload_counts().ok(), 1u);
  EXPECT_EQ(server_->reload_counts().rejected(), 1u);
}

TEST_F(ConfigReloadTest, EgressPolicyChangesForTheNextFetch) {
  ServerConfig config = LoopbackConfig();
  StartServer(config);
  ASSERT_TRUE(GetAs("").status.ok());

  ServerConfig strict = config;
  strict.engine.allow_cidrs.clear();  // loopback is denied by default
  ASSERT_TRUE(server_->Reload(strict, "test").ok());
  const CallResult denied = GetAs("");
  EXPECT_EQ(denied.reason, "DESTINATION_DENIED") << denied.status.error_message();

  ASSERT_TRUE(server_->Reload(config, "test").ok());
  EXPECT_TRUE(GetAs("").status.ok());
}

TEST_F(ConfigReloadTest, RestartOnlySettingsAreRefusedWhole) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.pool.max_connections = 7;
  StartServer(config);

  ServerConfig next = config;
  next.engine.defaults.pool.max_connections = 9;
  next.max_watch_streams = config.max_watch_streams + 1;
  next.engine.event_loops = 3;
  const absl::Status refused = server_->Reload(next, "test");
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("max_watch_streams, event_loops changed but are read only at start"));
  EXPECT_EQ(server_->running_config().engine.defaults.pool.max_connections, 7u);

  // A config that failed to build (the file did not parse) changes nothing.
  EXPECT_FALSE(server_->Reload(absl::InvalidArgumentError("f.conf:1:2: x: bad"), "test").ok());
  EXPECT_EQ(server_->running_config().engine.defaults.pool.max_connections, 7u);
  EXPECT_EQ(server_->reload_counts().rejected(), 2u);
}

TEST(RestartOnlyChangesTest, NamesEachSettingReadOnlyAtStart) {
  const ServerConfig running;
  EXPECT_TRUE(RestartOnlyChanges(running, running).empty());
  ServerConfig next = running;
  next.listen = "127.0.0.1:1";
  next.tls_cert_file = "/x.pem";
  next.stats_callers = {"ops"};
  next.drain_delay = absl::Seconds(1);          // live
  next.engine.defaults.pool.max_connections = 1;  // live
  next.log_level = "error";                       // live
  EXPECT_THAT(RestartOnlyChanges(running, next),
              ::testing::ElementsAre("listen", "tls_cert_file", "stats_callers"));
}

}  // namespace
}  // namespace fetchpool::testing
