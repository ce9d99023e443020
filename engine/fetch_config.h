#ifndef FETCHPOOL_ENGINE_FETCH_CONFIG_H_
#define FETCHPOOL_ENGINE_FETCH_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pool/pool_config.h"

namespace fetchpool {

// What happens to a transfer whose caller stopped waiting (deadline passed,
// or the body outgrew the caller's size limit).
enum class OnDeadline {
  // Close the connection now. We close first, so the socket sits in
  // TIME_WAIT here for 60 s and a new connection replaces it.
  kAbort,
  // Answer the caller at once, let the response finish in the background
  // within the drain budget, and keep the connection if it ends cleanly.
  kDrain,
};

// Which HTTP a host is spoken to in (the per-host `http_version` setting).
enum class HttpVersion {
  // https: ALPN offers h2 first and http/1.1, the origin picks; http:
  // HTTP/1.1.
  kAuto,
  // http: HTTP/2 by prior knowledge (h2c, RFC 9113 section 3.3), for
  // origins known to speak it in cleartext; https: as kAuto.
  kH2c,
  // HTTP/1.1 only; ALPN offers http/1.1 alone.
  kHttp11,
};
// Whether connections to `pool_key` ("https://host:port") may carry
// several streams with `version`: kAuto or kH2c over https (h2 by ALPN),
// kH2c over http (prior knowledge). HostPoolConfig::may_multiplex.
bool MayMultiplex(absl::string_view pool_key, HttpVersion version);
// "auto" | "h2c" | "http1.1", as written in flags and the config file.
absl::StatusOr<HttpVersion> ParseHttpVersion(absl::string_view text);
std::string HttpVersionName(HttpVersion version);

// How fetches to one host use their connection: the engine's settings, not
// the pool's (the pool only hands connections out).
struct FetchConfig {
  absl::Duration connect_timeout = absl::Seconds(5);
  uint64_t max_response_bytes = 4000000;  // fits gRPC's default 4 MiB message cap
  OnDeadline on_deadline = OnDeadline::kDrain;
  // https: h2 by ALPN when the origin offers it (one connection carries
  // many fetches); http: HTTP/1.1.
  HttpVersion http_version = HttpVersion::kAuto;
  // Budget for draining a response after its caller left (kDrain).
  uint64_t drain_max_bytes = 1 << 20;
  absl::Duration drain_timeout = absl::Seconds(2);
  // Hostile origins (issue 11): limits on what a response may cost.
  // Response header lines, counted over the final response and every 1xx
  // before it (each redirect hop is its own exchange with its own count).
  uint32_t max_response_header_bytes = 64 * 1024;
  uint32_t max_response_headers = 100;
  // Below min_transfer_speed bytes/s (either way) for a whole window, the
  // exchange fails UPSTREAM_TOO_SLOW. 0 turns the floor off. curl measures
  // it (CURLOPT_LOW_SPEED_LIMIT/TIME), so the window is whole seconds.
  uint64_t min_transfer_speed = 1024;
  absl::Duration min_transfer_speed_window = absl::Seconds(10);
  // The longest a fetch runs, from arrival, when the caller set neither a
  // gRPC deadline nor request_timeout. 0: no cap.
  absl::Duration max_request_time = absl::Seconds(60);

  // TLS toward the origin (engine/tls_setup.h). Peers are always verified
  // (certificate and name) with TLS 1.2 at least, unless insecure_skip_verify.
  // PEM bundle of CAs trusted IN ADDITION to the system store (--ca_file,
  // or a host block's own, which replaces it for that host).
  std::string ca_file;
  // Client certificate and key (PEM) for origins that ask for one; host
  // blocks of the config file only.
  std::string tls_client_cert_file;
  std::string tls_client_key_file;
  // Accept any certificate and name; host blocks of the config file only,
  // with a warning at start naming the host.
  bool insecure_skip_verify = false;

  // Also reads and parses the TLS files (a message naming the setting).
  absl::Status Validate() const;
  absl::Status ValidateOriginLimits() const;  // the five limits above
};

// Everything one host is run with: its pool's limits and its fetches' settings.
struct HostConfig {
  HostPoolConfig pool;
  FetchConfig fetch;

  absl::Status Validate() const;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_FETCH_CONFIG_H_
