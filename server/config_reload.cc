#include "server/config_reload.h"

namespace fetchpool {

std::vector<std::string> RestartOnlyChanges(const ServerConfig& running, const ServerConfig& next) {
  std::vector<std::string> changed;
  auto check = [&changed](bool same, const char* name) {
    if (!same) changed.emplace_back(name);
  };
  check(running.listen == next.listen, "listen");
  check(running.metrics_listen == next.metrics_listen, "metrics_listen");
  check(running.tls_cert_file == next.tls_cert_file, "tls_cert_file");
  check(running.tls_key_file == next.tls_key_file, "tls_key_file");
  check(running.tls_client_ca_file == next.tls_client_ca_file, "tls_client_ca_file");
  check(running.max_connection_age == next.max_connection_age, "max_connection_age");
  check(running.max_connection_age_grace == next.max_connection_age_grace,
        "max_connection_age_grace");
  check(running.max_stream_inflight == next.max_stream_inflight, "max_stream_inflight");
  check(running.max_inflight_per_caller == next.max_inflight_per_caller,
        "max_inflight_per_caller");
  check(running.max_watch_streams == next.max_watch_streams, "max_watch_streams");
  check(running.stats_callers == next.stats_callers, "stats_callers");
  // Read once into the service's options at start.
  check(running.trace_propagation == next.trace_propagation, "trace_propagation");
  check(running.engine.event_loops == next.engine.event_loops, "event_loops");
  return changed;
}

}  // namespace fetchpool
