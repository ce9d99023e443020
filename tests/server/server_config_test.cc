#include "server/server_config.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fetchpool {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<ServerConfig> Build(const ServerConfig& flags,
                                   const std::vector<std::string>& explicit_names,
                                   absl::optional<std::string> file = absl::nullopt) {
  return BuildServerConfig(flags, explicit_names, file, "fetchpool.conf");
}

// The error message of a build that must fail.
std::string ErrorOf(const ServerConfig& flags, const std::vector<std::string>& explicit_names,
                    absl::optional<std::string> file = absl::nullopt) {
  absl::StatusOr<ServerConfig> config = Build(flags, explicit_names, file);
  EXPECT_FALSE(config.ok()) << "unexpectedly valid";
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

std::string FileError(const std::string& file) { return ErrorOf(ServerConfig(), {}, file); }

TEST(BuildServerConfigTest, EmbeddedDefaults) {
  absl::StatusOr<ServerConfig> config = Build(ServerConfig(), {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "0.0.0.0:50051");
  EXPECT_EQ(config->metrics_listen, "0.0.0.0:9464");
  EXPECT_EQ(config->shutdown_grace, absl::Seconds(10));
  EXPECT_EQ(config->engine.defaults.pool.max_connections, HostPoolConfig().max_connections);
  EXPECT_EQ(config->engine.defaults.pool.idle_timeout, HostPoolConfig().idle_timeout);
  EXPECT_EQ(config->engine.max_pools, EngineConfig().max_pools);
  EXPECT_TRUE(config->engine.per_host.empty());
  EXPECT_TRUE(config->engine.allow_cidrs.empty());
}

TEST(BuildServerConfigTest, FileOverridesDefaults) {
  absl::StatusOr<ServerConfig> config = Build(ServerConfig(), {}, R"pb(
    # comments are fine
    listen: "127.0.0.1:7000"
    metrics_listen: "[::1]:9000"
    shutdown_grace: "3s"
    max_pools: 50
    evict_empty_pool_after: "5m"
    allow_cidrs: ["127.0.0.0/8", "::1"]
    max_connections_per_host: 32
    max_idle_connections_per_host: 16
    max_waiters_per_host: 100
    wait_timeout: "250ms"
    idle_timeout: "20s"
    connect_timeout: "1.5s"
    max_response_bytes: 1000
    on_deadline: "abort"
    http_version: "h2c"
    max_streams_per_connection: 8
    drain_max_bytes: 10
    drain_timeout: "100ms"
    learn_keep_alive: false
    max_connection_lifetime: "10m"
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:7000");
  EXPECT_EQ(config->metrics_listen, "[::1]:9000");
  EXPECT_EQ(config->shutdown_grace, absl::Seconds(3));
  EXPECT_EQ(config->engine.max_pools, 50u);
  EXPECT_EQ(config->engine.evict_empty_pool_after, absl::Minutes(5));
  EXPECT_EQ(config->engine.allow_cidrs, (std::vector<std::string>{"127.0.0.0/8", "::1"}));
  const HostConfig& d = config->engine.defaults;
  EXPECT_EQ(d.pool.max_connections, 32u);
  EXPECT_EQ(d.pool.max_idle_connections, 16u);
  EXPECT_EQ(d.pool.max_waiters, 100u);
  EXPECT_EQ(d.pool.wait_timeout, absl::Milliseconds(250));
  EXPECT_EQ(d.pool.idle_timeout, absl::Seconds(20));
  EXPECT_EQ(d.fetch.connect_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(d.fetch.max_response_bytes, 1000u);
  EXPECT_EQ(d.fetch.on_deadline, OnDeadline::kAbort);
  EXPECT_EQ(d.fetch.http_version, HttpVersion::kH2c);
  EXPECT_EQ(d.pool.max_streams_per_connection, 8u);
  EXPECT_EQ(d.fetch.drain_max_bytes, 10u);
  EXPECT_EQ(d.fetch.drain_timeout, absl::Milliseconds(100));
  EXPECT_FALSE(d.pool.learn_keep_alive);
  EXPECT_EQ(d.pool.max_connection_lifetime, absl::Minutes(10));
}

TEST(BuildServerConfigTest, ExplicitFlagsOverrideFileOthersDoNot) {
  ServerConfig flags;
  flags.engine.defaults.pool.idle_timeout = absl::Seconds(10);    // given on the command line
  flags.engine.defaults.pool.max_connections = 999;               // a flag default: not given
  flags.engine.defaults.pool.wait_timeout = HostPoolConfig().wait_timeout;  // given, = default
  flags.listen = "127.0.0.1:1";                              // not given
  flags.engine.allow_cidrs = {"10.0.0.0/8"};                 // given
  absl::StatusOr<ServerConfig> config =
      Build(flags, {"idle_timeout", "wait_timeout", "allow_cidrs"}, R"pb(
        idle_timeout: "20s"
        max_connections_per_host: 32
        wait_timeout: "1s"
        allow_cidrs: "127.0.0.0/8"
      )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  const HostConfig& d = config->engine.defaults;
  EXPECT_EQ(d.pool.idle_timeout, absl::Seconds(10));  // flag > file
  EXPECT_EQ(d.pool.max_connections, 32u);             // file > unset flag's value
  // A flag given with the default's value still wins: it was said explicitly.
  EXPECT_EQ(d.pool.wait_timeout, HostPoolConfig().wait_timeout);
  EXPECT_EQ(config->listen, "0.0.0.0:50051");  // neither file nor explicit flag
  EXPECT_EQ(config->engine.allow_cidrs, (std::vector<std::string>{"10.0.0.0/8"}));
}

TEST(BuildServerConfigTest, TracePropagationFromFileAndFlag) {
  absl::StatusOr<ServerConfig> config = Build(ServerConfig(), {}, R"pb(
    trace_propagation: "start"
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->trace_propagation, "start");
  ServerConfig flags;
  flags.trace_propagation = "off";
  config = Build(flags, {"trace_propagation"}, R"pb(
    trace_propagation: "start"
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->trace_propagation, "off");  // flag > file
  EXPECT_EQ(Build(ServerConfig(), {})->trace_propagation, "forward");
}

TEST(BuildServerConfigTest, FlagsWithoutFile) {
  ServerConfig flags;
  flags.engine.defaults.fetch.on_deadline = OnDeadline::kAbort;
  flags.engine.max_pools = 7;
  flags.shutdown_grace = absl::ZeroDuration();  // 0 is allowed: stop at once
  absl::StatusOr<ServerConfig> config =
      Build(flags, {"on_deadline", "max_pools", "shutdown_grace"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->engine.defaults.fetch.on_deadline, OnDeadline::kAbort);
  EXPECT_EQ(config->engine.max_pools, 7u);
  EXPECT_EQ(config->shutdown_grace, absl::ZeroDuration());
}

TEST(BuildServerConfigTest, HostOverridesInheritServiceWideValues) {
  ServerConfig flags;
  flags.engine.defaults.pool.wait_timeout = absl::Seconds(2);
  flags.engine.defaults.pool.max_connections = 100;
  absl::StatusOr<ServerConfig> config =
      Build(flags, {"wait_timeout", "max_connections_per_host"}, R"pb(
        max_connections_per_host: 32
        idle_timeout: "20s"
        host {
          pool_key: "http://api:80"
          max_connections_per_host: 8
          on_deadline: "abort"
        }
        host {
          pool_key: "HTTPS://Search.Example"
          wait_timeout: "100ms"
        }
      )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->engine.per_host.size(), 2u);
  const HostConfig& api = config->engine.per_host.at("http://api:80");
  EXPECT_EQ(api.pool.max_connections, 8u);                   // its own
  EXPECT_EQ(api.fetch.on_deadline, OnDeadline::kAbort);       // its own
  EXPECT_EQ(api.pool.idle_timeout, absl::Seconds(20));       // from the file's service-wide value
  EXPECT_EQ(api.pool.wait_timeout, absl::Seconds(2));        // from the explicit flag
  EXPECT_EQ(api.fetch.connect_timeout, FetchConfig().connect_timeout);  // embedded default
  // Keys are normalized like FetchSpec.pool_key.
  const HostConfig& search = config->engine.per_host.at("https://search.example:443");
  EXPECT_EQ(search.pool.wait_timeout, absl::Milliseconds(100));
  EXPECT_EQ(search.pool.max_connections, 100u);  // the flag beat the file's 32 service-wide
  EXPECT_EQ(config->engine.defaults.pool.max_connections, 100u);
}

TEST(BuildServerConfigTest, SubMillisecondIdleTimeoutFromAFlag) {
  ServerConfig flags;
  flags.engine.defaults.pool.idle_timeout = absl::Nanoseconds(30);  // --idle_timeout=30ns
  std::string error = ErrorOf(flags, {"idle_timeout"});
  EXPECT_THAT(error, HasSubstr("idle_timeout is 30ns; it must be at least 1ms"));
  EXPECT_THAT(error, HasSubstr("(set by --idle_timeout)"));
}

TEST(BuildServerConfigTest, SubMillisecondIdleTimeoutFromTheFile) {
  std::string error = FileError("listen: \"0.0.0.0:1\"\nidle_timeout: \"999us\"\n");
  EXPECT_THAT(error, HasSubstr("idle_timeout is 999us"));
  EXPECT_THAT(error, HasSubstr("(set by fetchpool.conf:2)"));
}

TEST(BuildServerConfigTest, BadHostValueNamesHostBlockAndLine) {
  std::string error = FileError(R"pb(max_connections_per_host: 4
host {
  pool_key: "http://api:80"
  max_idle_connections_per_host: 8
})pb");
  EXPECT_THAT(error, HasSubstr("host http://api:80 (fetchpool.conf:2)"));
  EXPECT_THAT(error, HasSubstr("max_idle_connections_per_host is 8; it cannot exceed "
                               "max_connections_per_host (4)"));
  EXPECT_THAT(error, HasSubstr("(set by fetchpool.conf:4)"));
}

TEST(BuildServerConfigTest, BadFlagValueNamesTheFlag) {
  ServerConfig flags;
  flags.engine.defaults.pool.max_connections = 0;
  std::string error = ErrorOf(flags, {"max_connections_per_host"});
  EXPECT_THAT(error, HasSubstr("max_connections_per_host is 0"));
  EXPECT_THAT(error, HasSubstr("--max_connections_per_host"));
}

TEST(BuildServerConfigTest, FileErrorsNameFileLineAndField) {
  EXPECT_THAT(FileError("max_connections_per_host: 4\nmax_conections: 3\n"),
              HasSubstr("fetchpool.conf:2:15: Message type \"fetchpool.v1.ServerConfigFile\" has "
                        "no field named \"max_conections\""));
  EXPECT_THAT(FileError("\n\nidle_timeout: \"30\"\n"),
              HasSubstr("fetchpool.conf:3: idle_timeout: \"30\" is not a duration; write it "
                        "with a unit"));
  EXPECT_THAT(FileError("wait_timeout: \"5 s\""), HasSubstr("fetchpool.conf:1: wait_timeout:"));
  EXPECT_THAT(FileError("shutdown_grace: \"soon\""),
              HasSubstr("fetchpool.conf:1: shutdown_grace:"));
  EXPECT_THAT(FileError("evict_empty_pool_after: \"\""),
              HasSubstr("fetchpool.conf:1: evict_empty_pool_after:"));
  EXPECT_THAT(FileError("on_deadline: \"close\""),
              HasSubstr("fetchpool.conf:1: on_deadline: \"close\" is not an on_deadline policy"));
  EXPECT_THAT(FileError("\nhost { pool_key: \"http://a\" http_version: \"h3\" }"),
              HasSubstr("fetchpool.conf:2: http_version: \"h3\" is not an HTTP version; write "
                        "auto, h2c or http1.1"));
  EXPECT_THAT(FileError("max_connections_per_host: -1"), HasSubstr("fetchpool.conf:1:"));
  EXPECT_THAT(FileError("max_connections_per_host: 1 max_connections_per_host: 2"),
              HasSubstr("fetchpool.conf:1:"));
  EXPECT_THAT(FileError("listen: 50051"), HasSubstr("fetchpool.conf:1:"));
  EXPECT_THAT(FileError("host { pool_key: \"http://a\" nonsense: 1 }"),
              HasSubstr("no field named \"nonsense\""));
  EXPECT_THAT(FileError("host {"), HasSubstr("fetchpool.conf:"));
}

TEST(BuildServerConfigTest, BadPoolKeys) {
  EXPECT_THAT(FileError("host {\n  pool_key: \"ftp://api:21\"\n}"),
              HasSubstr("fetchpool.conf:2: pool_key: pool key scheme \"ftp\" is not supported"));
  EXPECT_THAT(FileError("host { pool_key: \"http://api:80/v1\" }"),
              HasSubstr("a pool key is scheme://host:port, e.g. http://api:80"));
  EXPECT_THAT(FileError("host { pool_key: \"api:80\" }"), HasSubstr("has no scheme"));
  EXPECT_THAT(FileError("host { pool_key: \"http://u:p@api\" }"), HasSubstr("user info"));
  EXPECT_THAT(FileError("\nhost { max_connections_per_host: 1 }"),
              HasSubstr("fetchpool.conf:2: host: the block has no pool_key"));
  EXPECT_THAT(FileError("host { pool_key: \"http://api\" }\n"
                        "host { pool_key: \"HTTP://API:80\" }"),
              HasSubstr("fetchpool.conf:2: pool_key: \"HTTP://API:80\" is the pool "
                        "http://api:80, which already has a host block at fetchpool.conf:1"));
}

TEST(BuildServerConfigTest, BadServiceWideValues) {
  struct Case {
    std::string file;
    const char* message_part;
  };
  const Case cases[] = {
      {"listen: \"50051\"", "listen is \"50051\"; it has no port"},
      {"listen: \"0.0.0.0:\"", "the port must be a number"},
      {"listen: \"0.0.0.0:65536\"", "the port must be a number"},
      {"listen: \":50051\"", "the host is empty"},
      {"listen: \"[::1:50051\"", "not an IPv6 address"},
      {"listen: \"::1:50051\"", "IPv6 goes in brackets"},
      {"metrics_listen: \"host name:9464\"", "metrics_listen is"},
      {"shutdown_grace: \"-1s\"", "shutdown_grace is -1s"},
      {"shutdown_grace: \"2h\"", "shutdown_grace is 2h"},
      {"drain_delay: \"-1s\"", "drain_delay is -1s"},
      {"drain_delay: \"2h\"", "drain_delay is 2h"},
      {"max_connection_age: \"500ms\"", "max_connection_age is 500ms"},
      {"max_connection_age_grace: \"-1s\"", "max_connection_age_grace must not be negative"},
      {"log_level: \"loud\"", "log_level: log level \"loud\" is not one of"},
      {"trace_propagation: \"on\"", "trace_propagation is \"on\"; it must be off, forward or start"},
      {"max_connections_per_host: \"lots\"", "max_connections_per_host: Expected integer"},
      {"evict_empty_pool_after: \"500us\"", "evict_empty_pool_after is 500us"},
      {"evict_empty_pool_after: \"inf\"", "evict_empty_pool_after is inf"},
      {"max_pools: 0", "max_pools is 0"},
      {"allow_cidrs: [\"10.0.0.0/8\", \"10.0.0.1/8\"]", "allow_cidrs entry 2 is invalid"},
      {"allow_cidrs: \"localhost\"", "not an IPv4 or IPv6 address"},
      {"max_waiters_per_host: 2000000", "max_waiters_per_host is 2000000"},
      {"max_response_bytes: 0", "max_response_bytes must be positive"},
      {"connect_timeout: \"25h\"", "connect_timeout is 25h"},
      {"drain_timeout: \"0\"", "drain_timeout is 0"},
      {"wait_timeout: \"-5s\"", "wait_timeout is -5s"},
      {"max_connection_lifetime: \"100us\"", "max_connection_lifetime is 100us"},
  };
  for (const Case& c : cases) {
    std::string error = FileError(c.file);
    EXPECT_THAT(error, HasSubstr(c.message_part)) << c.file;
    EXPECT_THAT(error, HasSubstr("fetchpool.conf:1")) << c.file;
  }
}

TEST(BuildServerConfigTest, ZeroMaxConnectionLifetimeMeansNoLimit) {
  absl::StatusOr<ServerConfig> config = Build(ServerConfig(), {}, R"pb(
    max_connection_lifetime: "5m"
    host { pool_key: "http://api" max_connection_lifetime: "0" }
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->engine.defaults.pool.max_connection_lifetime, absl::Minutes(5));
  EXPECT_EQ(config->engine.per_host.at("http://api:80").pool.max_connection_lifetime,
            absl::ZeroDuration());
}

TEST(BuildServerConfigTest, ListenAddressesThatAreFine) {
  for (const char* listen :
       {"0.0.0.0:50051", "[::]:50051", "localhost:1", "127.0.0.1:0", "my-host.internal:65535"}) {
    ServerConfig flags;
    flags.listen = listen;
    absl::StatusOr<ServerConfig> config = Build(flags, {"listen"});
    EXPECT_TRUE(config.ok()) << listen << ": " << config.status();
  }
}

TEST(BuildServerConfigTest, UnknownFlagNameIsRefused) {
  EXPECT_THAT(ErrorOf(ServerConfig(), {"max_connection"}),
              HasSubstr("--max_connection is not a server setting"));
}

TEST(ValidateServerConfigTest, ChecksDefaultsAndHosts) {
  ServerConfig config;
  EXPECT_TRUE(ValidateServerConfig(config).ok());
  config.engine.per_host["http://a:80"].pool.idle_timeout = absl::Nanoseconds(30);
  absl::Status s = ValidateServerConfig(config);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("host http://a:80: idle_timeout is 30ns"));
}

// Greedy callers are bounded (issue 11): the three limits from the file,
// a flag over the file, and their bounds.
TEST(BuildServerConfigTest, GreedyCallerLimits) {
  ServerConfig flags;
  flags.max_stream_inflight = 32;
  absl::StatusOr<ServerConfig> config = Build(flags, {"max_stream_inflight"}, R"pb(
    max_buffered_bytes: 0
    max_stream_inflight: 8
    max_new_pools_per_caller_per_minute: 60
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->engine.max_buffered_bytes, 0u);  // unlimited
  EXPECT_EQ(config->max_stream_inflight, 32u);       // the flag wins
  EXPECT_EQ(config->engine.max_new_pools_per_caller_per_minute, 60u);
  EXPECT_EQ(Build(ServerConfig(), {})->engine.max_buffered_bytes, uint64_t{1} << 30);
  EXPECT_THAT(FileError("max_buffered_bytes: 1000"), HasSubstr("max_buffered_bytes is 1000"));
  EXPECT_THAT(FileError("max_stream_inflight: 0"), HasSubstr("max_stream_inflight is 0"));
}

TEST(OnDeadlineTest, ParsesAndNames) {
  EXPECT_EQ(*ParseOnDeadline("abort"), OnDeadline::kAbort);
  EXPECT_EQ(*ParseOnDeadline("drain"), OnDeadline::kDrain);
  EXPECT_FALSE(ParseOnDeadline("Abort").ok());
  EXPECT_FALSE(ParseOnDeadline("").ok());
  EXPECT_EQ(OnDeadlineName(OnDeadline::kAbort), "abort");
  EXPECT_EQ(OnDeadlineName(OnDeadline::kDrain), "drain");
}

// ---- Egress profiles (server/egress_profile_config) ----

TEST(BuildServerConfigTest, EgressProfilesCallersAndDefaultProfileSettings) {
  ServerConfig flags;
  flags.engine.deny_hosts = {"*.corp.example.com"};
  absl::StatusOr<ServerConfig> config = Build(flags, {"deny_hosts"}, R"pb(
    allow_cidrs: "10.0.0.0/8"
    deny_cidrs: ["10.9.0.0/16"]
    deny_private_networks: true
    allow_hosts: "api.example.com"
    deny_hosts: "ignored.example.com"
    profile {
      name: "strict"
      deny_private_networks: true
      methods: ["GET", "HEAD"]
      deny_hosts: "*.internal"
      credential_headers: "X-Api-Key"
    }
    profile { name: "default" allow_host_header: true }
    caller { name: "billing" profile: "strict" }
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  const EngineConfig& e = config->engine;
  EXPECT_EQ(e.deny_cidrs, (std::vector<std::string>{"10.9.0.0/16"}));
  EXPECT_TRUE(e.deny_private_networks);
  EXPECT_EQ(e.allow_hosts, (std::vector<std::string>{"api.example.com"}));
  EXPECT_EQ(e.deny_hosts, (std::vector<std::string>{"*.corp.example.com"}));  // the flag wins
  ASSERT_EQ(e.profiles.size(), 2u);
  EXPECT_EQ(e.profiles[0].name, "strict");
  EXPECT_EQ(e.profiles[0].methods, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_EQ(e.profiles[0].credential_headers, (std::vector<std::string>{"X-Api-Key"}));
  EXPECT_TRUE(e.profiles[1].allow_host_header);
  ASSERT_EQ(e.caller_profiles.count("billing"), 1u);
  EXPECT_EQ(e.caller_profiles.at("billing"), "strict");
  // Defaults: no profiles, nothing denied beyond the built-in list.
  absl::StatusOr<ServerConfig> plain = Build(ServerConfig(), {});
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->engine.deny_cidrs.empty());
  EXPECT_FALSE(plain->engine.deny_private_networks);
  EXPECT_TRUE(plain->engine.profiles.empty());
}

TEST(BuildServerConfigTest, BadEgressProfiles) {
  struct Case {
    const char* file;
    const char* message_part;
  };
  const Case cases[] = {
      {"profile { deny_private_networks: true }", "fetchpool.conf:1: profile: the block has no name"},
      {"profile { name: \"a\" }\nprofile { name: \"a\" }", "already defined at fetchpool.conf:1"},
      {"caller { name: \"x\" }", "write both name and profile"},
      {"caller { name: \"x\" profile: \"a\" }", "\"a\", which is not defined"},
      {"profile { name: \"a\" }\ncaller { name: \"x\" profile: \"a\" }\n"
       "caller { name: \"x\" profile: \"a\" }", "already bound at fetchpool.conf:2"},
      {"profile { name: \"default\" allow_cidrs: \"10.0.0.0/8\" }", "service-wide settings"},
      {"profile { name: \"p\" methods: \"G T\" }", "egress profile \"p\": methods entry"},
      {"profile { name: \"p\" allow_hosts: \"a b\" }", "egress profile \"p\": allow_hosts entry 1"},
      {"deny_cidrs: \"10.0.0.1/8\"", "deny_cidrs entry 1 is invalid"},
      {"deny_hosts: \"*\"", "deny_hosts entry 1 is invalid"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(FileError(c.file), HasSubstr(c.message_part)) << c.file;
  }
  ServerConfig flags;
  flags.engine.deny_cidrs = {"nonsense"};
  EXPECT_THAT(ErrorOf(flags, {"deny_cidrs"}), HasSubstr("deny_cidrs entry 1 is invalid"));
}

// Issue 11: the hostile-origin limits, service-wide and per host.
TEST(BuildServerConfigTest, HostileOriginLimits) {
  const FetchConfig defaults;
  EXPECT_EQ(defaults.max_response_header_bytes, 65536u);
  EXPECT_EQ(defaults.max_response_headers, 100u);
  EXPECT_EQ(defaults.min_transfer_speed, 1024u);
  EXPECT_EQ(defaults.min_transfer_speed_window, absl::Seconds(10));
  EXPECT_EQ(defaults.max_request_time, absl::Seconds(60));
  absl::StatusOr<ServerConfig> config = Build(ServerConfig(), {}, R"pb(
    max_response_header_bytes: 32768
    max_response_headers: 50
    min_transfer_speed: 0
    min_transfer_speed_window: "5s"
    max_request_time: "0"
    host { pool_key: "http://slow" min_transfer_speed: 10 max_request_time: "5m" max_response_headers: 300 }
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  const FetchConfig& d = config->engine.defaults.fetch;
  EXPECT_EQ(d.max_response_header_bytes, 32768u);
  EXPECT_EQ(d.max_response_headers, 50u);
  EXPECT_EQ(d.min_transfer_speed, 0u);
  EXPECT_EQ(d.min_transfer_speed_window, absl::Seconds(5));
  EXPECT_EQ(d.max_request_time, absl::ZeroDuration());
  const FetchConfig& slow = config->engine.per_host.at("http://slow:80").fetch;
  EXPECT_EQ(slow.min_transfer_speed, 10u);
  EXPECT_EQ(slow.max_request_time, absl::Minutes(5));
  EXPECT_EQ(slow.max_response_headers, 300u);
  EXPECT_EQ(slow.max_response_header_bytes, 32768u) << "inherited";

  for (const auto& [file, message] : std::vector<std::pair<std::string, std::string>>{
           {"max_response_header_bytes: 100", "max_response_header_bytes is 100"},
           {"max_response_headers: 0", "max_response_headers is 0"},
           {"min_transfer_speed_window: \"1500ms\"", "min_transfer_speed_window is 1.5s"},
           {"min_transfer_speed_window: \"0\"", "whole seconds"},
           {"max_request_time: \"25h\"", "max_request_time is 25h"},
       }) {
    EXPECT_THAT(FileError(file), HasSubstr(message)) << file;
    EXPECT_THAT(FileError(file), HasSubstr("fetchpool.conf:1")) << file;
  }
  // With the floor off, its window is not checked.
  EXPECT_TRUE(Build(ServerConfig(), {}, "min_transfer_speed: 0 min_transfer_speed_window: \"0\"").ok());
}

}  // namespace
}  // namespace fetchpool

namespace fetchpool {
namespace {

// Caller identity and per-caller limits: file fields, flag precedence, checks.
TEST(BuildServerConfigTest, CallerSettings) {
  absl::StatusOr<ServerConfig> config = Build(ServerConfig(), {}, R"pb(
    auth_tokens_file: "/dev/null"
    max_inflight_per_caller: 5
    max_watch_streams: 3
    stats_callers: ["ops", "spiffe://example.org/admin"]
  )pb");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->auth_tokens_file, "/dev/null");
  EXPECT_EQ(config->max_inflight_per_caller, 5u);
  EXPECT_EQ(config->max_watch_streams, 3u);
  EXPECT_EQ(config->stats_callers,
            (std::vector<std::string>{"ops", "spiffe://example.org/admin"}));
  EXPECT_EQ(ServerConfig().max_inflight_per_caller, 10000u);
  EXPECT_EQ(ServerConfig().max_watch_streams, 64u);

  ServerConfig flags;
  flags.max_inflight_per_caller = 0;
  config = Build(flags, {"max_inflight_per_caller"}, "max_inflight_per_caller: 5");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_inflight_per_caller, 0u);  // 0: unlimited

  EXPECT_THAT(FileError("max_watch_streams: 0"),
              AllOf(HasSubstr("max_watch_streams is 0"), HasSubstr("fetchpool.conf:1")));
  EXPECT_THAT(FileError("tls_cert_file: \"/dev/null\""),
              HasSubstr("tls_cert_file and tls_key_file go together"));
  EXPECT_THAT(FileError("tls_client_ca_file: \"/dev/null\""),
              HasSubstr("tls_client_ca_file needs tls_cert_file"));
  EXPECT_THAT(FileError("auth_tokens_file: \"/nonexistent/tokens\""),
              AllOf(HasSubstr("auth_tokens_file is \"/nonexistent/tokens\"; cannot read it"),
                    HasSubstr("fetchpool.conf:1")));
}

}  // namespace
}  // namespace fetchpool
