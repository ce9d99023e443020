// The real flag path: absl::ParseCommandLine, IsSpecifiedOnCommandLine, the
// --config file. One test: the command line is parsed once per process.
#include "server/server_flags.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fetchpool {
namespace {

TEST(LoadServerConfigFromFlagsTest, CommandLineBeatsFileBeatsDefaults) {
  char dir_template[] = "/tmp/fetchpool_flags_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/fetchpool.conf";
  {
    std::ofstream out(path);
    out << "idle_timeout: \"20s\"\n"
           "max_connections_per_host: 32\n"
           "host { pool_key: \"http://api\" max_connections_per_host: 8 }\n";
  }
  std::vector<std::string> args = {"fetchpoold", "--config=" + path, "--idle_timeout=10s",
                                   "--allow_cidrs=127.0.0.0/8,::1", "--on_deadline=abort",
                                   "--deny_cidrs=10.9.0.0/16", "--deny_private_networks",
                                   "--allow_hosts=a.example.com", "--deny_hosts=*.internal"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  absl::ParseCommandLine(static_cast<int>(argv.size()), argv.data());

  absl::StatusOr<ServerConfig> config = LoadServerConfigFromFlags();
  std::remove(path.c_str());
  rmdir(dir_template);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->engine.defaults.pool.idle_timeout, absl::Seconds(10));  // flag > file
  EXPECT_EQ(config->engine.defaults.pool.max_connections, 32u);            // file > default
  EXPECT_EQ(config->engine.defaults.fetch.on_deadline, OnDeadline::kAbort);
  EXPECT_EQ(config->engine.defaults.pool.wait_timeout, HostPoolConfig().wait_timeout);
  EXPECT_EQ(config->engine.allow_cidrs, (std::vector<std::string>{"127.0.0.0/8", "::1"}));
  ASSERT_EQ(config->engine.per_host.count("http://api:80"), 1u);
  EXPECT_EQ(config->engine.per_host.at("http://api:80").pool.max_connections, 8u);
  EXPECT_EQ(config->engine.per_host.at("http://api:80").pool.idle_timeout, absl::Seconds(10));
  EXPECT_EQ(config->listen, ServerConfig().listen);
  EXPECT_EQ(config->engine.deny_cidrs, (std::vector<std::string>{"10.9.0.0/16"}));
  EXPECT_TRUE(config->engine.deny_private_networks);
  EXPECT_EQ(config->engine.allow_hosts, (std::vector<std::string>{"a.example.com"}));
  EXPECT_EQ(config->engine.deny_hosts, (std::vector<std::string>{"*.internal"}));
}

}  // namespace
}  // namespace fetchpool
