#include "server/server_flags.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/internal/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

// Defaults come from the config structs so each number is written once.
// Durations take units: --idle_timeout=30s, --wait_timeout=250ms.

ABSL_FLAG(std::string, config, "",
          "Config file (protobuf text format of fetchpool.v1.ServerConfigFile). Flags given "
          "on the command line override it.");
ABSL_FLAG(bool, watch_config, false,
          "Reload the --config file whenever its content changes (e.g. a mounted ConfigMap), "
          "as SIGHUP does");
ABSL_FLAG(std::string, listen, fetchpool::ServerConfig().listen,
          "host:port of the gRPC service ([::]:50051 for IPv6; port 0 picks a free one)");
ABSL_FLAG(std::string, metrics_listen, fetchpool::ServerConfig().metrics_listen,
          "host:port of the Prometheus /metrics endpoint");
ABSL_FLAG(absl::Duration, shutdown_grace, fetchpool::ServerConfig().shutdown_grace,
          "On SIGTERM, how long running and queued fetches may finish");
ABSL_FLAG(absl::Duration, drain_delay, fetchpool::ServerConfig().drain_delay,
          "On SIGTERM, how long new calls are still served while health reads NOT_SERVING, "
          "before the server stops taking calls and shutdown_grace starts");
ABSL_FLAG(absl::Duration, max_connection_age, fetchpool::ServerConfig().max_connection_age,
          "gRPC connections older than this get GOAWAY, so long-lived client channels "
          "rebalance onto new pods; 0 means no limit");
ABSL_FLAG(absl::Duration, max_connection_age_grace,
          fetchpool::ServerConfig().max_connection_age_grace,
          "After a max_connection_age GOAWAY, how long the connection's calls may run before "
          "it is closed under them; 0 means no limit (open FetchStreams are not cut)");
ABSL_FLAG(std::string, log_level, fetchpool::ServerConfig().log_level,
          "Lines below this level are not logged: debug, info, warning or error");
ABSL_FLAG(std::string, trace_propagation, fetchpool::ServerConfig().trace_propagation,
          "W3C traceparent sent upstream: off (never), forward (the caller's, when valid, "
          "with a new span id) or start (also a new trace when the caller sent none)");
ABSL_FLAG(uint32_t, max_pools, fetchpool::EngineConfig().max_pools,
          "Most host pools kept at once; fetches to new hosts beyond it fail QUEUE_FULL");
ABSL_FLAG(uint32_t, event_loops, fetchpool::EngineConfig().event_loops,
          "Event-loop threads running the fetches; each host's pool lives on one of them. "
          "0: one per CPU this process may use (affinity mask and cgroup CPU quota)");
ABSL_FLAG(absl::Duration, evict_empty_pool_after,
          fetchpool::EngineConfig().evict_empty_pool_after,
          "A pool with no connections and no waiters is dropped after this long");
ABSL_FLAG(std::vector<std::string>, allow_cidrs, fetchpool::EngineConfig().allow_cidrs,
          "Comma-separated CIDRs fetchpool may connect to despite the default deny list "
          "(loopback, link-local, cloud metadata), e.g. 127.0.0.0/8,10.1.2.3");
ABSL_FLAG(std::vector<std::string>, deny_cidrs, fetchpool::EngineConfig().deny_cidrs,
          "Comma-separated CIDRs the default egress profile may never connect to; only an "
          "--allow_cidrs entry inside one opens part of it");
ABSL_FLAG(bool, deny_private_networks, fetchpool::EngineConfig().deny_private_networks,
          "Default egress profile: deny private networks (10/8, 172.16/12, 192.168/16, "
          "fc00::/7, 100.64/10, 198.18/15)");
ABSL_FLAG(std::vector<std::string>, allow_hosts, fetchpool::EngineConfig().allow_hosts,
          "Default egress profile: comma-separated URL hosts that beat --deny_hosts "
          "(api.example.com or *.example.com, which matches subdomains only)");
ABSL_FLAG(std::vector<std::string>, deny_hosts, fetchpool::EngineConfig().deny_hosts,
          "Default egress profile: comma-separated URL hosts refused "
          "(api.example.com or *.example.com)");

ABSL_FLAG(uint32_t, max_connections_per_host, fetchpool::HostPoolConfig().max_connections,
          "Connection cap per host; further fetches wait in the host's queue");
ABSL_FLAG(uint32_t, max_idle_connections_per_host,
          fetchpool::HostPoolConfig().max_idle_connections,
          "Idle connections kept per host; 0 means the same as --max_connections_per_host "
          "(a small cap closes connections after each burst: a TIME_WAIT storm)");
ABSL_FLAG(uint32_t, max_waiters_per_host, fetchpool::HostPoolConfig().max_waiters,
          "Fetches that may wait for a connection per host; more fail QUEUE_FULL");
ABSL_FLAG(absl::Duration, wait_timeout, fetchpool::HostPoolConfig().wait_timeout,
          "Longest wait for a pooled connection (a request may set a shorter one)");
ABSL_FLAG(absl::Duration, idle_timeout, fetchpool::HostPoolConfig().idle_timeout,
          "An idle connection is closed after this long; keep it below the origins' "
          "keep-alive timeout");
ABSL_FLAG(absl::Duration, connect_timeout, fetchpool::FetchConfig().connect_timeout,
          "TCP connect plus TLS handshake limit");
ABSL_FLAG(uint64_t, max_response_bytes, fetchpool::FetchConfig().max_response_bytes,
          "Largest response body accepted (a request may set another)");
ABSL_FLAG(std::string, on_deadline,
          fetchpool::OnDeadlineName(fetchpool::FetchConfig().on_deadline),
          "When a caller stops waiting: abort (close the connection, TIME_WAIT lands here) "
          "or drain (finish the response in the background within the drain budget and "
          "keep the connection)");
ABSL_FLAG(uint64_t, drain_max_bytes, fetchpool::FetchConfig().drain_max_bytes,
          "Most bytes read to drain an abandoned response (--on_deadline=drain)");
ABSL_FLAG(absl::Duration, drain_timeout, fetchpool::FetchConfig().drain_timeout,
          "Longest time spent draining an abandoned response (--on_deadline=drain)");
ABSL_FLAG(absl::Duration, max_connection_lifetime,
          fetchpool::HostPoolConfig().max_connection_lifetime,
          "Connections older than this are closed on release instead of reused, so DNS "
          "changes reach long-lived pools; 0 means no limit");
ABSL_FLAG(std::string, http_version,
          fetchpool::HttpVersionName(fetchpool::FetchConfig().http_version),
          "HTTP toward origins: auto (https: ALPN offers h2, then http/1.1), h2c (http: "
          "HTTP/2 by prior knowledge; https as auto) or http1.1");
ABSL_FLAG(uint32_t, max_streams_per_connection,
          fetchpool::HostPoolConfig().max_streams_per_connection,
          "HTTP/2: the most concurrent requests (streams) on one connection to a host "
          "(the origin's own limit may be lower); at least 1");
ABSL_FLAG(std::string, ca_file, fetchpool::FetchConfig().ca_file,
          "PEM bundle of CAs trusted for origins IN ADDITION to the system store (a host "
          "block's ca_file replaces it for that host); read at start");
ABSL_FLAG(bool, learn_keep_alive, fetchpool::HostPoolConfig().learn_keep_alive,
          "Lower a host's idle timeout to its 'Keep-Alive: timeout=N' hint minus a margin");

// Hostile origins (issue 11).
ABSL_FLAG(uint32_t, max_response_header_bytes, fetchpool::FetchConfig().max_response_header_bytes,
          "Most bytes of response header lines (1xx interim responses included) per exchange; "
          "more fail RESPONSE_HEADERS_TOO_LARGE");
ABSL_FLAG(uint32_t, max_response_headers, fetchpool::FetchConfig().max_response_headers,
          "Most response header lines (1xx interim responses included) per exchange; more "
          "fail RESPONSE_HEADERS_TOO_LARGE");
ABSL_FLAG(uint64_t, min_transfer_speed, fetchpool::FetchConfig().min_transfer_speed,
          "Bytes/s under which, for a whole --min_transfer_speed_window, an exchange fails "
          "UPSTREAM_TOO_SLOW (waiting for the first byte counts); 0 turns it off");
ABSL_FLAG(absl::Duration, min_transfer_speed_window,
          fetchpool::FetchConfig().min_transfer_speed_window,
          "The window of --min_transfer_speed, in whole seconds");
ABSL_FLAG(absl::Duration, max_request_time, fetchpool::FetchConfig().max_request_time,
          "Longest a fetch runs when the caller set neither a gRPC deadline nor "
          "request_timeout (DEADLINE_EXCEEDED); 0: no cap");
// Greedy callers are bounded (issue 11).
ABSL_FLAG(uint64_t, max_buffered_bytes, fetchpool::EngineConfig().max_buffered_bytes,
          "Response bytes held in memory at once over all fetches, until written to the "
          "caller; a fetch that would exceed it fails BUFFER_BUDGET_EXCEEDED. 0: unlimited");
ABSL_FLAG(uint32_t, max_stream_inflight, fetchpool::ServerConfig().max_stream_inflight,
          "Fetches one FetchStream may have running or unwritten; past it the stream stops "
          "reading requests until one is answered");
ABSL_FLAG(uint32_t, max_new_pools_per_caller_per_minute,
          fetchpool::EngineConfig().max_new_pools_per_caller_per_minute,
          "New host pools one caller may create per minute; more fail CALLER_QUOTA_EXCEEDED. "
          "0: unlimited");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of the gRPC port; with --tls_key_file the port speaks TLS "
          "(default: plaintext, no caller authentication)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key for --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle: callers must present a client certificate it signed (mTLS); the "
          "caller's identity is the certificate's spiffe:// URI or DNS name");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "File of `caller-name token` lines; callers send `authorization: Bearer <token>` "
          "and are identified by the name");
ABSL_FLAG(uint32_t, max_inflight_per_caller, fetchpool::ServerConfig().max_inflight_per_caller,
          "Fetches one caller identity may have in flight across Fetch and FetchStream; more "
          "fail CALLER_QUOTA_EXCEEDED. 0: unlimited");
ABSL_FLAG(uint32_t, max_watch_streams, fetchpool::ServerConfig().max_watch_streams,
          "Concurrent WatchStats calls; more fail TOO_MANY_STREAMS");
ABSL_FLAG(std::vector<std::string>, stats_callers, fetchpool::ServerConfig().stats_callers,
          "Comma-separated caller identities allowed to see per-pool Stats (pool keys); "
          "others get totals only. Empty: everyone");

namespace fetchpool {
namespace {

// Every setting flag; --config is not a setting.
std::vector<const absl::CommandLineFlag*> SettingFlags() {
  return {
      &absl::GetFlagReflectionHandle(FLAGS_listen),
      &absl::GetFlagReflectionHandle(FLAGS_metrics_listen),
      &absl::GetFlagReflectionHandle(FLAGS_shutdown_grace),
      &absl::GetFlagReflectionHandle(FLAGS_drain_delay),
      &absl::GetFlagReflectionHandle(FLAGS_max_connection_age),
      &absl::GetFlagReflectionHandle(FLAGS_max_connection_age_grace),
      &absl::GetFlagReflectionHandle(FLAGS_log_level),
      &absl::GetFlagReflectionHandle(FLAGS_trace_propagation),
      &absl::GetFlagReflectionHandle(FLAGS_max_pools),
      &absl::GetFlagReflectionHandle(FLAGS_event_loops),
      &absl::GetFlagReflectionHandle(FLAGS_evict_empty_pool_after),
      &absl::GetFlagReflectionHandle(FLAGS_allow_cidrs),
      &absl::GetFlagReflectionHandle(FLAGS_max_connections_per_host),
      &absl::GetFlagReflectionHandle(FLAGS_max_idle_connections_per_host),
      &absl::GetFlagReflectionHandle(FLAGS_max_waiters_per_host),
      &absl::GetFlagReflectionHandle(FLAGS_wait_timeout),
      &absl::GetFlagReflectionHandle(FLAGS_idle_timeout),
      &absl::GetFlagReflectionHandle(FLAGS_connect_timeout),
      &absl::GetFlagReflectionHandle(FLAGS_max_response_bytes),
      &absl::GetFlagReflectionHandle(FLAGS_on_deadline),
      &absl::GetFlagReflectionHandle(FLAGS_drain_max_bytes),
      &absl::GetFlagReflectionHandle(FLAGS_drain_timeout),
      &absl::GetFlagReflectionHandle(FLAGS_learn_keep_alive),
      &absl::GetFlagReflectionHandle(FLAGS_max_connection_lifetime),
      &absl::GetFlagReflectionHandle(FLAGS_deny_cidrs),
      &absl::GetFlagReflectionHandle(FLAGS_deny_private_networks),
      &absl::GetFlagReflectionHandle(FLAGS_allow_hosts),
      &absl::GetFlagReflectionHandle(FLAGS_deny_hosts),
      &absl::GetFlagReflectionHandle(FLAGS_max_response_header_bytes),
      &absl::GetFlagReflectionHandle(FLAGS_max_response_headers),
      &absl::GetFlagReflectionHandle(FLAGS_min_transfer_speed),
      &absl::GetFlagReflectionHandle(FLAGS_min_transfer_speed_window),
      &absl::GetFlagReflectionHandle(FLAGS_max_request_time),
      &absl::GetFlagReflectionHandle(FLAGS_ca_file),
      &absl::GetFlagReflectionHandle(FLAGS_http_version),
      &absl::GetFlagReflectionHandle(FLAGS_max_streams_per_connection),
      &absl::GetFlagReflectionHandle(FLAGS_max_buffered_bytes),
      &absl::GetFlagReflectionHandle(FLAGS_max_stream_inflight),
      &absl::GetFlagReflectionHandle(FLAGS_max_new_pools_per_caller_per_minute),
      &absl::GetFlagReflectionHandle(FLAGS_tls_cert_file),
      &absl::GetFlagReflectionHandle(FLAGS_tls_key_file),
      &absl::GetFlagReflectionHandle(FLAGS_tls_client_ca_file),
      &absl::GetFlagReflectionHandle(FLAGS_auth_tokens_file),
      &absl::GetFlagReflectionHandle(FLAGS_max_inflight_per_caller),
      &absl::GetFlagReflectionHandle(FLAGS_max_watch_streams),
      &absl::GetFlagReflectionHandle(FLAGS_stats_callers),
  };
}

absl::StatusOr<ServerConfig> ConfigFromFlagValues() {
  ServerConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.drain_delay = absl::GetFlag(FLAGS_drain_delay);
  config.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  config.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  config.log_level = absl::GetFlag(FLAGS_log_level);
  config.trace_propagation = absl::GetFlag(FLAGS_trace_propagation);
  config.engine.max_pools = absl::GetFlag(FLAGS_max_pools);
  config.engine.event_loops = absl::GetFlag(FLAGS_event_loops);
  config.engine.evict_empty_pool_after = absl::GetFlag(FLAGS_evict_empty_pool_after);
  config.engine.allow_cidrs = absl::GetFlag(FLAGS_allow_cidrs);
  HostPoolConfig& pool = config.engine.defaults.pool;
  FetchConfig& fetch = config.engine.defaults.fetch;
  pool.max_connections = absl::GetFlag(FLAGS_max_connections_per_host);
  pool.max_idle_connections = absl::GetFlag(FLAGS_max_idle_connections_per_host);
  pool.max_waiters = absl::GetFlag(FLAGS_max_waiters_per_host);
  pool.wait_timeout = absl::GetFlag(FLAGS_wait_timeout);
  pool.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  fetch.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  fetch.max_response_bytes = absl::GetFlag(FLAGS_max_response_bytes);
  absl::StatusOr<OnDeadline> on_deadline = ParseOnDeadline(absl::GetFlag(FLAGS_on_deadline));
  if (!on_deadline.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--on_deadline: ", on_deadline.status().message()));
  }
  fetch.on_deadline = *on_deadline;
  absl::StatusOr<HttpVersion> http_version = ParseHttpVersion(absl::GetFlag(FLAGS_http_version));
  if (!http_version.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_version: ", http_version.status().message()));
  }
  fetch.http_version = *http_version;
  pool.max_streams_per_connection = absl::GetFlag(FLAGS_max_streams_per_connection);
  fetch.drain_max_bytes = absl::GetFlag(FLAGS_drain_max_bytes);
  fetch.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  pool.learn_keep_alive = absl::GetFlag(FLAGS_learn_keep_alive);
  pool.max_connection_lifetime = absl::GetFlag(FLAGS_max_connection_lifetime);
  config.engine.deny_cidrs = absl::GetFlag(FLAGS_deny_cidrs);
  config.engine.deny_private_networks = absl::GetFlag(FLAGS_deny_private_networks);
  config.engine.allow_hosts = absl::GetFlag(FLAGS_allow_hosts);
  config.engine.deny_hosts = absl::GetFlag(FLAGS_deny_hosts);
  fetch.max_response_header_bytes = absl::GetFlag(FLAGS_max_response_header_bytes);
  fetch.max_response_headers = absl::GetFlag(FLAGS_max_response_headers);
  fetch.min_transfer_speed = absl::GetFlag(FLAGS_min_transfer_speed);
  fetch.min_transfer_speed_window = absl::GetFlag(FLAGS_min_transfer_speed_window);
  fetch.max_request_time = absl::GetFlag(FLAGS_max_request_time);
  fetch.ca_file = absl::GetFlag(FLAGS_ca_file);
  config.engine.max_buffered_bytes = absl::GetFlag(FLAGS_max_buffered_bytes);
  config.max_stream_inflight = absl::GetFlag(FLAGS_max_stream_inflight);
  config.engine.max_new_pools_per_caller_per_minute =
      absl::GetFlag(FLAGS_max_new_pools_per_caller_per_minute);
  config.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  config.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  config.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  config.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  config.max_inflight_per_caller = absl::GetFlag(FLAGS_max_inflight_per_caller);
  config.max_watch_streams = absl::GetFlag(FLAGS_max_watch_streams);
  config.stats_callers = absl::GetFlag(FLAGS_stats_callers);
  return config;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read --config file \"", path, "\": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("error reading --config file \"", path, "\""));
  }
  return text.str();
}

}  // namespace

std::string ConfigFileFlag() { return absl::GetFlag(FLAGS_config); }
bool WatchConfigFlag() { return absl::GetFlag(FLAGS_watch_config); }

absl::StatusOr<ServerConfig> LoadServerConfigFromFlags() {
  absl::StatusOr<ServerConfig> from_flags = ConfigFromFlagValues();
  if (!from_flags.ok()) return from_flags.status();
  std::vector<std::string> explicit_names;
  for (const absl::CommandLineFlag* flag : SettingFlags()) {
    // CommandLineFlag::IsSpecifiedOnCommandLine() is private in Abseil
    // 20220623 (Debian 12); this is the function ParseCommandLine records
    // into, and it also counts --flagfile contents and --nofoo for bools.
    if (absl::flags_internal::WasPresentOnCommandLine(flag->Name())) {
      explicit_names.emplace_back(flag->Name());
    }
  }
  absl::optional<std::string> file_text;
  const std::string path = absl::GetFlag(FLAGS_config);
  if (!path.empty()) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) return text.status();
    file_text = *std::move(text);
  }
  return BuildServerConfig(*from_flags, explicit_names, file_text, path);
}

}  // namespace fetchpool
