// An https -> http redirect through the running service (issue 11, part 4):
// refused with INSECURE_REDIRECT before the http origin gets a connection,
// followed (without credentials) when the request allows the downgrade.
//
// The HTTPS origin is nginx on loopback with a certificate that
// with_test_ca.sh makes and binds over the system CA bundle, inside a
// network and mount namespace of its own (see CMakeLists.txt); run
// directly, without FETCHPOOL_TEST_TLS_DIR, the tests skip.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/service_fixture.h"

extern char** environ;

namespace fetchpool::testing {
namespace {

// Inside the test's own network namespace nothing else listens: a fixed port is free.
constexpr int kHttpsPort = 18443;

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

class DowngradeTest : public ServiceTest {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("FETCHPOOL_TEST_TLS_DIR");
    if (dir == nullptr) GTEST_SKIP() << "run through with_test_ca.sh (ctest does)";
    if (access("/usr/sbin/nginx", X_OK) != 0) GTEST_SKIP() << "no /usr/sbin/nginx";
    ServiceTest::SetUp();
    StartServer(LoopbackConfig());
    const std::string d = dir;
    std::ofstream(d + "/nginx.conf") << absl::StrCat(
        "daemon off; master_process off; pid ", d, "/nginx.pid; error_log ", d,
        "/error.log;\nevents {}\nhttp { access_log off; client_body_temp_path ", d,
        "; proxy_temp_path ", d, "; fastcgi_temp_path ", d, "; uwsgi_temp_path ", d,
        "; scgi_temp_path ", d, ";\n server { listen 127.0.0.1:", kHttpsPort,
        " ssl; ssl_certificate ", d, "/cert.pem; ssl_certificate_key ", d,
        "/key.pem;\n  location / { return 302 ", origin_->base_url(), "/dump; } } }\n");
    const std::string conf = d + "/nginx.conf";
    const std::string log = d + "/error.log";
    const char* argv[] = {"/usr/sbin/nginx", "-p", dir, "-c", conf.c_str(), "-e", log.c_str(),
                          nullptr};
    ASSERT_EQ(posix_spawn(&nginx_, argv[0], nullptr, nullptr, const_cast<char**>(argv), environ),
              0);
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!Accepts(kHttpsPort) && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(Accepts(kHttpsPort)) << "nginx did not start; see " << log;
  }

  void TearDown() override {
    if (nginx_ > 0) {
      kill(nginx_, SIGTERM);
      waitpid(nginx_, nullptr, 0);
    }
    if (origin_ != nullptr) ServiceTest::TearDown();
  }

  v1::FetchRequest Request() {
    v1::FetchRequest request;
    request.set_url(absl::StrCat("https://127.0.0.1:", kHttpsPort, "/start"));
    request.set_follow_redirects(true);
    v1::Header* h = request.add_headers();
    h->set_name("Authorization");
    h->set_value("Bearer secret-token");
    return request;
  }

  pid_t nginx_ = 0;
};

TEST_F(DowngradeTest, RefusedBeforeTheHttpOriginGetsAByte) {
  CallResult r = Fetch(Request());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.status.error_message();
  EXPECT_EQ(r.reason, "INSECURE_REDIRECT");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "allow_https_downgrade"))
      << r.status.error_message();
  EXPECT_EQ(origin_->connections_accepted(), 0);
}

TEST_F(DowngradeTest, FollowedWhenAllowedWithoutCredentials) {
  v1::FetchRequest request = Request();
  request.set_allow_https_downgrade(true);
  CallResult r = Fetch(request);
  ASSERT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
  EXPECT_EQ(r.response.redirects(), 1u);
  EXPECT_EQ(origin_->requests_served(), 1);
  // https://127.0.0.1:18443 and http://127.0.0.1:PORT are different origins.
  EXPECT_FALSE(absl::StrContains(absl::AsciiStrToLower(r.response.body()), "authorization"))
      << r.response.body();
}

}  // namespace
}  // namespace fetchpool::testing
