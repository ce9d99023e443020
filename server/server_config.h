#ifndef FETCHPOOL_SERVER_SERVER_CONFIG_H_
#define FETCHPOOL_SERVER_SERVER_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "engine/engine.h"
#include "pool/pool_config.h"

namespace fetchpool {

// Everything fetchpoold is started with. The member initializers are the
// embedded defaults; the flags take their defaults from here and from
// HostPoolConfig / FetchConfig / EngineConfig, so each number is written once.
struct ServerConfig {
  std::string listen = "0.0.0.0:50051";          // gRPC service, host:port
  std::string metrics_listen = "0.0.0.0:9464";   // Prometheus /metrics, host:port
  // How long running and queued fetches may finish after SIGTERM.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // After SIGTERM, how long new calls are still served while health says
  // NOT_SERVING, so Kubernetes endpoints and client balancers move away.
  absl::Duration drain_delay = absl::Seconds(5);
  // GOAWAY on gRPC connections older than this (plus gRPC's jitter of up to
  // 10%): client channels open a new connection for new calls, which spreads
  // them over the pods a scale-up added. ZeroDuration: no limit.
  absl::Duration max_connection_age = absl::Minutes(5);
  // How long the calls on such a connection may then run before it is
  // closed under them. ZeroDuration (the default): no limit, because a
  // FetchStream is long-lived by design and cutting it would lose the fetches
  // in flight on it; streams move at a drain instead, which ends them cleanly.
  absl::Duration max_connection_age_grace = absl::ZeroDuration();
  // debug, info, warning or error: lines below it are not logged.
  std::string log_level = "info";
  // W3C trace context sent upstream: off, forward (only the caller's, when
  // valid) or start (also a new trace when the caller sent none). README
  // "Trace context".
  std::string trace_propagation = "forward";
  EngineConfig engine;
  // Fetches one FetchStream may have running or waiting to be written;
  // past it the stream stops reading, and gRPC flow control slows the
  // caller. 256 keeps a stream's answers under its share of the buffer
  // budget while leaving room to fill many hosts' connections.
  uint32_t max_stream_inflight = 256;

  // Caller identity and per-caller limits (README "Security").
  std::string tls_cert_file;       // PEM chain; with tls_key_file, gRPC is served over TLS
  std::string tls_key_file;        // PEM private key of tls_cert_file
  std::string tls_client_ca_file;  // PEM CAs; set: client certificates verified (mTLS)
  std::string auth_tokens_file;    // `caller-name token` lines; set: bearer tokens
  uint32_t max_inflight_per_caller = 10000;  // 0: unlimited
  uint32_t max_watch_streams = 64;           // concurrent WatchStats calls
  std::vector<std::string> stats_callers;    // empty: every caller sees pool keys
};

// Merges the three layers of settings and validates the result.
//   from_flags: every flag's value (given or default), already converted.
//   explicitly_set_flag_names: the settings given on the command line, by
//     flag name ("max_connections_per_host"); only these override the file.
//   config_file_text: the --config file's text (protobuf text format of
//     fetchpool.v1.ServerConfigFile), or nullopt when there is none.
//   config_file_name: used in messages ("fetchpool.conf:12: ...").
// Precedence: embedded defaults < config file < explicit flags. A per-host
// override starts from the merged service-wide values and changes only the
// fields it sets. INVALID_ARGUMENT with a message naming the setting and
// where it came from (flag, file:line, or default) for any bad value.
absl::StatusOr<ServerConfig> BuildServerConfig(
    const ServerConfig& from_flags, const std::vector<std::string>& explicitly_set_flag_names,
    const absl::optional<std::string>& config_file_text, absl::string_view config_file_name);

// The checks BuildServerConfig ends with: listen addresses are host:port,
// allow_cidrs parse, HostConfig::Validate() holds for the defaults and
// every host, and the service-wide durations and counts are sane.
absl::Status ValidateServerConfig(const ServerConfig& config);

// One warning per host whose TLS is weakened (insecure_skip_verify), naming
// the host; fetchpoold logs them at start.
std::vector<std::string> TlsWarnings(const ServerConfig& config);

// "abort" / "drain", as written in flags and the config file.
absl::StatusOr<OnDeadline> ParseOnDeadline(absl::string_view text);
std::string OnDeadlineName(OnDeadline policy);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_SERVER_CONFIG_H_
