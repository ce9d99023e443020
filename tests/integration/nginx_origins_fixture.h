#ifndef FETCHPOOL_TESTS_INTEGRATION_NGINX_ORIGINS_FIXTURE_H_
#define FETCHPOOL_TESTS_INTEGRATION_NGINX_ORIGINS_FIXTURE_H_

// A live fetchpoold (ServiceTest) in front of the nginx origins of
// TlsTestEnv: the environment (certificates, one nginx) is made once per
// test suite, and every test fails at once if it could not start.

#include "gtest/gtest.h"
#include "server/server_config.h"
#include "tests/integration/service_fixture.h"
#include "tests/integration/tls_test_env.h"

namespace fetchpool::testing {

class NginxOriginsTest : public ServiceTest {
 protected:
  static void SetUpTestSuite() {
    env_ = new TlsTestEnv();
    started_ = env_->Start();
  }
  static void TearDownTestSuite() {
    env_->Stop();
    delete env_;
    env_ = nullptr;
  }

  // No plain-HTTP TestOrigin: the origins are nginx's.
  void SetUp() override { ASSERT_TRUE(started_) << "openssl or nginx failed; see stderr"; }

  // Loopback allowed, and the test CA trusted in addition to the system
  // store (--ca_file).
  static ServerConfig TlsConfig() {
    ServerConfig config = LoopbackConfig();
    config.engine.defaults.fetch.ca_file = env_->File("ca.pem");
    return config;
  }

  inline static TlsTestEnv* env_ = nullptr;
  inline static bool started_ = false;
};

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_INTEGRATION_NGINX_ORIGINS_FIXTURE_H_
