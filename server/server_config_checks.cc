#include "server/server_config_checks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/destination_policy.h"
#include "server/egress_profile_config.h"
#include "server/json_log.h"
#include "server/trace_context.h"

namespace fetchpool {
namespace {

// Service-wide bounds not covered by HostConfig::Validate().
constexpr absl::Duration kMaxShutdownGrace = absl::Hours(1);
constexpr absl::Duration kMinConnectionAge = absl::Seconds(1);
constexpr uint64_t kMinBufferBudget = uint64_t{1} << 20;
constexpr absl::Duration kMinEvictAfter = absl::Milliseconds(1);
constexpr absl::Duration kMaxEvictAfter = absl::Hours(24);

// ---- Validation ----

absl::Status ValidateHostPort(absl::string_view setting, const std::string& value) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(setting, " is \"", absl::CHexEscape(value), "\"; ", why,
                     " (write host:port, e.g. 0.0.0.0:50051, [::]:50051 or localhost:50051)"));
  };
  size_t colon = value.rfind(':');
  if (colon == std::string::npos) return bad("it has no port");
  absl::string_view host = absl::string_view(value).substr(0, colon);
  absl::string_view port = absl::string_view(value).substr(colon + 1);
  uint32_t port_number = 0;
  // Port 0 asks the kernel for a free port (tests use it).
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &port_number) || port_number > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  if (host.empty()) return bad("the host is empty");
  if (host.front() == '[') {
    in6_addr addr;
    std::string inner(host.substr(1, host.size() >= 2 ? host.size() - 2 : 0));
    if (host.back() != ']' || inet_pton(AF_INET6, inner.c_str(), &addr) != 1) {
      return bad("the bracketed host is not an IPv6 address");
    }
    return absl::OkStatus();
  }
  bool name_chars = std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
           c == '_';
  });
  if (!name_chars) return bad("the host is not a name or an address (IPv6 goes in brackets)");
  return absl::OkStatus();
}

// The TLS and token files: paired, and readable (their contents are checked
// when the server starts, server/auth_server_credentials.cc and
// server/auth_tokens.cc).
absl::Status ValidateAuthSettings(const ServerConfig& config) {
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls_cert_file and tls_key_file go together: set both to serve TLS, or neither for "
        "plaintext");
  }
  if (!config.tls_client_ca_file.empty() && config.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "tls_client_ca_file needs tls_cert_file and tls_key_file: client certificates are "
        "only checked over TLS");
  }
  const std::pair<const char*, const std::string*> files[] = {
      {"tls_cert_file", &config.tls_cert_file},
      {"tls_key_file", &config.tls_key_file},
      {"tls_client_ca_file", &config.tls_client_ca_file},
      {"auth_tokens_file", &config.auth_tokens_file}};
  for (const auto& [setting, path] : files) {
    if (!path->empty() && access(path->c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(setting, " is \"", absl::CHexEscape(*path),
                                                     "\"; cannot read it: ",
                                                     std::strerror(errno)));
    }
  }
  if (config.max_watch_streams == 0) {
    return absl::InvalidArgumentError("max_watch_streams is 0; it must be at least 1");
  }
  return absl::OkStatus();
}

absl::Status ValidateServiceSettings(const ServerConfig& config) {
  absl::Status s = ValidateHostPort("listen", config.listen);
  if (!s.ok()) return s;
  // An empty metrics address turns the Prometheus endpoint off.
  s = config.metrics_listen.empty() ? absl::OkStatus()
                                    : ValidateHostPort("metrics_listen", config.metrics_listen);
  if (!s.ok()) return s;
  if (config.shutdown_grace < absl::ZeroDuration() || config.shutdown_grace > kMaxShutdownGrace) {
    return absl::InvalidArgumentError(
        absl::StrCat("shutdown_grace is ", absl::FormatDuration(config.shutdown_grace),
                     "; it must be from 0 to ", absl::FormatDuration(kMaxShutdownGrace)));
  }
  if (absl::StatusOr<LogLevel> level = ParseLogLevel(config.log_level); !level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("log_level: ", level.status().message()));
  }
  if (absl::StatusOr<TracePropagation> mode = ParseTracePropagation(config.trace_propagation);
      !mode.ok()) {
    return mode.status();
  }
  if (config.drain_delay < absl::ZeroDuration() || config.drain_delay > kMaxShutdownGrace) {
    return absl::InvalidArgumentError(
        absl::StrCat("drain_delay is ", absl::FormatDuration(config.drain_delay),
                     "; it must be from 0 to ", absl::FormatDuration(kMaxShutdownGrace)));
  }
  if (config.max_connection_age < absl::ZeroDuration() ||
      (config.max_connection_age > absl::ZeroDuration() &&
       config.max_connection_age < kMinConnectionAge)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_connection_age is ", absl::FormatDuration(config.max_connection_age),
        "; it must be 0 (no limit) or at least ", absl::FormatDuration(kMinConnectionAge),
        " (each GOAWAY costs callers a reconnect)"));
  }
  if (config.max_connection_age_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_connection_age_grace must not be negative");
  }
  const absl::Duration evict = config.engine.evict_empty_pool_after;
  if (evict < kMinEvictAfter || evict > kMaxEvictAfter) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evict_empty_pool_after is ", absl::FormatDuration(evict), "; it must be from ",
        absl::FormatDuration(kMinEvictAfter), " to ", absl::FormatDuration(kMaxEvictAfter),
        " (write units: 250ms, 2m)"));
  }
  if (config.engine.max_pools == 0) {
    return absl::InvalidArgumentError("max_pools is 0; it must be at least 1");
  }
  if (config.engine.event_loops > kMaxEventLoops) {
    return absl::InvalidArgumentError(absl::StrCat("event_loops is ", config.engine.event_loops,
                                                   "; it must be at most ", kMaxEventLoops,
                                                   " (0: one per usable CPU)"));
  }
  // A budget below the largest response would refuse responses the limits
  // allow; under 1 MiB it would refuse nearly everything.
  if (config.engine.max_buffered_bytes != 0 && config.engine.max_buffered_bytes < kMinBufferBudget) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_buffered_bytes is ", config.engine.max_buffered_bytes,
                     "; it must be 0 (unlimited) or at least ", kMinBufferBudget, " (1 MiB)"));
  }
  if (config.max_stream_inflight == 0) {
    return absl::InvalidArgumentError("max_stream_inflight is 0; it must be at least 1");
  }
  absl::StatusOr<DestinationPolicy> policy = DestinationPolicy::Create(config.engine.allow_cidrs);
  if (!policy.ok()) return policy.status();
  if (absl::Status profiles = ValidateEgressProfiles(config.engine); !profiles.ok()) {
    return profiles;
  }
  if (s = ValidateAuthSettings(config); !s.ok()) return s;
  return config.engine.defaults.Validate();
}

}  // namespace

absl::optional<ConfigProblem> FindConfigProblem(const ServerConfig& config) {
  if (absl::Status s = ValidateServiceSettings(config); !s.ok()) return ConfigProblem{"", s};
  // Sorted, so the same bad config always gives the same message.
  std::vector<std::string> keys;
  for (const auto& entry : config.engine.per_host) keys.push_back(entry.first);
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    if (absl::Status s = config.engine.per_host.at(key).Validate(); !s.ok()) {
      return ConfigProblem{key, s};
    }
  }
  return absl::nullopt;
}

absl::Status ValidateServerConfig(const ServerConfig& config) {
  absl::optional<ConfigProblem> problem = FindConfigProblem(config);
  if (!problem.has_value()) return absl::OkStatus();
  if (problem->host.empty()) return problem->status;
  return absl::InvalidArgumentError(
      absl::StrCat("host ", problem->host, ": ", problem->status.message()));
}

std::vector<std::string> TlsWarnings(const ServerConfig& config) {
  std::vector<std::string> warnings;
  for (const auto& [key, host] : config.engine.per_host) {
    if (host.fetch.insecure_skip_verify) {
      warnings.push_back(absl::StrCat(
          "insecure_skip_verify is on for ", key,
          ": its certificates and host name are NOT verified; anyone on the path can read "
          "and change its traffic"));
    }
  }
  std::sort(warnings.begin(), warnings.end());
  return warnings;
}

}  // namespace fetchpool
