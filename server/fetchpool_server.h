#ifndef FETCHPOOL_SERVER_FETCHPOOL_SERVER_H_
#define FETCHPOOL_SERVER_FETCHPOOL_SERVER_H_

#include <grpcpp/server.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "server/caller_identity_grpc.h"
#include "server/caller_outcomes.h"
#include "server/caller_quotas.h"
#include "server/config_reload.h"
#include "server/fetch_service.h"
#include "server/metrics_exporter.h"
#include "server/server_config.h"

namespace fetchpool {

// The assembled service: engine + gRPC server. fetchpoold and the
// integration tests build it the same way.
class FetchPoolServer {
 public:
  struct Options {
    // Run before every handler (tests, tracing). Caller authentication and
    // per-caller quotas are not here: FetchService does them from the
    // config (see Authenticator in server/caller_identity_grpc.h).
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  };

  static absl::StatusOr<std::unique_ptr<FetchPoolServer>> Start(const ServerConfig& config,
                                                                Options options = {});
  ~FetchPoolServer();

  int port() const { return port_; }  // the bound gRPC port (useful with :0)
  // The bound /metrics port; 0 when config.metrics_listen was empty.
  int metrics_port() const { return metrics_ == nullptr ? 0 : metrics_->port(); }
  Engine& engine() { return *engine_; }
  // Per-caller books: fetchpool_caller_requests_total and in-flight counts.
  const CallerOutcomes& caller_outcomes() const { return *caller_outcomes_; }
  const CallerQuotas& caller_quotas() const { return *caller_quotas_; }
  size_t auth_token_count() const { return authenticator_->token_count(); }

  // What a drain did, for the log and fetchpoold's exit code.
  struct DrainReport {
    uint64_t in_flight_at_stop = 0;  // fetches running when calls stopped being taken
    uint64_t cut_off = 0;            // failed SHUTTING_DOWN at the grace deadline
    absl::Duration stop_to_idle;     // from no longer taking calls to the last answer
  };
  // The SIGTERM drain (README "Deploying"): health reads NOT_SERVING at
  // once; new calls are still served for `delay`, so endpoints and client
  // balancers move away; then no call is taken, open FetchStreams and
  // WatchStats end after answering what they have in flight (UNAVAILABLE /
  // SHUTTING_DOWN, so SDKs reconnect elsewhere), and running fetches get
  // `grace`. What is still running then fails SHUTTING_DOWN and is counted
  // in cut_off. Ends with every connection closed. Blocks; call once.
  DrainReport Drain(absl::Duration delay, absl::Duration grace);

  // A config reload (SIGHUP, --watch_config): `next` (a freshly merged
  // config, or why it could not be) applies to new work without dropping
  // in-flight fetches: per-host limits, timeouts, the deadline policy,
  // destination policy and egress profiles, tokens, log level, drain
  // timings. Refused whole, the old config staying in force, when it does
  // not parse or validate or changes a setting read only at start
  // (RestartOnlyChanges, and the engine's own). Logs one line and counts it
  // (fetchpool_config_reloads_total). Thread-safe; reloads run one at a time.
  absl::Status Reload(const absl::StatusOr<ServerConfig>& next, absl::string_view trigger);
  // The config in force: the one started with, or the last reload's.
  ServerConfig running_config() const;
  const ConfigReloadCounts& reload_counts() const { return reload_counts_; }

  // Stop at once or nearly: stop taking calls, let running ones finish
  // within `grace`, then cancel what is left and close every connection.
  void Shutdown(absl::Duration grace);
  void Wait() { server_->Wait(); }

 private:
  FetchPoolServer() = default;

  // Declared first, destroyed last: the engine's last callbacks and the
  // service use them.
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<CallerQuotas> caller_quotas_;
  std::unique_ptr<CallerOutcomes> caller_outcomes_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<FetchService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsExporter> metrics_;  // null when metrics_listen is empty
  absl::Status ApplyLocked(const absl::StatusOr<ServerConfig>& next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);

  int port_ = 0;
  bool shut_down_ = false;
  mutable absl::Mutex reload_mu_;
  ServerConfig running_ ABSL_GUARDED_BY(reload_mu_);
  ConfigReloadCounts reload_counts_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_FETCHPOOL_SERVER_H_
