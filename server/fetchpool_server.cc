#include "server/fetchpool_server.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <climits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "server/auth_server_credentials.h"
#include "server/caller_identity.h"
#include "server/config_reload.h"
#include "server/json_log.h"

namespace fetchpool {
namespace {

// Request bodies travel inside FetchRequest; validation caps them at 64 MiB.
constexpr int kMaxRequestMessageBytes = 64 * 1024 * 1024 + 1024 * 1024;

// gRPC's own shutdown deadline comes this long after the drain's grace, so
// that fetches failed SHUTTING_DOWN at the grace deadline still get their
// answers written before gRPC cancels the calls.
constexpr absl::Duration kAnswerMargin = absl::Seconds(2);

// The engine's part of a ServerConfig, its events going to the log unless
// the config names another sink (tests).
EngineConfig EngineConfigOf(const ServerConfig& config) {
  EngineConfig engine_config = config.engine;
  if (!engine_config.log_event) {
    engine_config.log_event = [](const std::string& event,
                                 const std::vector<std::pair<std::string, std::string>>& fields) {
      LogEvent("info", event, fields);
    };
  }
  return engine_config;
}

int MillisecondsArg(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace

absl::StatusOr<std::unique_ptr<FetchPoolServer>> FetchPoolServer::Start(const ServerConfig& config,
                                                                        Options options) {
  std::unique_ptr<FetchPoolServer> self(new FetchPoolServer());
  // Caller authentication: checked before the engine starts, so a bad file
  // stops start-up with a message naming its setting.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(config);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<AuthTokens> tokens;
  if (!config.auth_tokens_file.empty()) {
    absl::StatusOr<AuthTokens> loaded = AuthTokens::Load(config.auth_tokens_file);
    if (!loaded.ok()) return loaded.status();
    tokens = std::make_unique<AuthTokens>(*std::move(loaded));
  }
  self->authenticator_ =
      std::make_unique<Authenticator>(std::move(tokens), !config.tls_client_ca_file.empty());
  if (config.tls_cert_file.empty()) {
    // One line, so an operator sees it once per start and log searches find it.
    LogEvent("warning", "plaintext_grpc",
             {{"message", self->authenticator_->required()
                              ? "plaintext gRPC: no TLS; bearer tokens travel in the clear"
                              : "plaintext gRPC: no TLS, no caller authentication"}});
  }
  self->caller_quotas_ = std::make_unique<CallerQuotas>(config.max_inflight_per_caller);
  self->caller_outcomes_ =
      std::make_unique<CallerOutcomes>([](const CallerOutcomes::Fields& fields) {
        LogEvent("warning", "fetch_failed", fields);
      });

  self->running_ = config;
  if (absl::StatusOr<LogLevel> level = ParseLogLevel(config.log_level); level.ok()) {
    SetMinLogLevel(*level);
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(EngineConfigOf(config));
  if (!engine.ok()) return engine.status();
  self->engine_ = *std::move(engine);
  FetchService::Options service_options;
  service_options.authenticator = self->authenticator_.get();
  service_options.quotas = self->caller_quotas_.get();
  service_options.outcomes = self->caller_outcomes_.get();
  service_options.max_watch_streams = config.max_watch_streams;
  service_options.stats_callers = config.stats_callers;
  service_options.max_stream_inflight = config.max_stream_inflight;
  // Validated by ValidateServerConfig: a bad name never gets here.
  service_options.trace_propagation =
      ParseTracePropagation(config.trace_propagation).value_or(TracePropagation::kForward);
  self->service_ = std::make_unique<FetchService>(*self->engine_, std::move(service_options));
  // No fetch may reach fetchpool itself: the configured addresses now (a
  // fixed port is known before binding, so no call is served unprotected),
  // the ports actually bound below.
  std::vector<std::string> self_listen = {config.listen};
  if (!config.metrics_listen.empty()) self_listen.push_back(config.metrics_listen);
  if (absl::Status s = self->engine_->SetSelfAddresses(self_listen); !s.ok()) return s;

  // grpc.health.v1.Health: for load balancers and Kubernetes gRPC probes,
  // and the no-op RPC that measures gRPC's own cost in bench/.
  grpc::EnableDefaultHealthCheckService(true);
  // grpc.reflection: lets grpcurl and other generic tools list and call the
  // services with no copy of our .proto files (tests/server/reflection_grpcurl_test.sh).
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, *credentials, &self->port_);
  builder.RegisterService(self->service_.get());
  builder.SetMaxReceiveMessageSize(kMaxRequestMessageBytes);
  builder.SetMaxSendMessageSize(-1);
  if (config.max_connection_age > absl::ZeroDuration()) {
    // GOAWAY after this age: callers' long-lived channels reconnect, and
    // spread over the pods a scale-up added.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               MillisecondsArg(config.max_connection_age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               config.max_connection_age_grace == absl::ZeroDuration()
                                   ? INT_MAX
                                   : MillisecondsArg(config.max_connection_age_grace));
  }
  if (!options.interceptors.empty()) {
    builder.experimental().SetInterceptorCreators(std::move(options.interceptors));
  }
  self->server_ = builder.BuildAndStart();
  if (self->server_ == nullptr || self->port_ == 0) {
    self->engine_->Shutdown(absl::ZeroDuration());
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen, " (address in use or not local?)"));
  }
  if (!config.metrics_listen.empty()) {
    MetricsExporter::Options metrics_options;
    metrics_options.caller_outcomes = self->caller_outcomes_.get();
    metrics_options.config_reloads = &self->reload_counts_;
    // The metrics listener has no caller identity: the status page sees what
    // the Stats RPC shows the anonymous caller (stats_callers is not
    // reloadable, so this holds for the server's life).
    metrics_options.stats_pool_details = self->service_->SeesPoolDetails(kAnonymousCaller);
    absl::StatusOr<std::unique_ptr<MetricsExporter>> metrics =
        MetricsExporter::Start(*self->engine_, config.metrics_listen, metrics_options);
    // On failure ~FetchPoolServer stops the gRPC server and the engine.
    if (!metrics.ok()) return metrics.status();
    self->metrics_ = *std::move(metrics);
  }
  auto with_port = [](const std::string& listen, int port) {
    return absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port);
  };
  self_listen = {with_port(config.listen, self->port_)};
  if (self->metrics_ != nullptr) {
    self_listen.push_back(with_port(config.metrics_listen, self->metrics_->port()));
  }
  if (absl::Status s = self->engine_->SetSelfAddresses(self_listen); !s.ok()) return s;
  return self;
}

FetchPoolServer::~FetchPoolServer() { Shutdown(absl::ZeroDuration()); }

ServerConfig FetchPoolServer::running_config() const {
  absl::MutexLock lock(&reload_mu_);
  return running_;
}

absl::Status FetchPoolServer::Reload(const absl::StatusOr<ServerConfig>& next,
                                     absl::string_view trigger) {
  absl::MutexLock lock(&reload_mu_);
  absl::Status applied = ApplyLocked(next);
  reload_counts_.Count(applied.ok());
  if (applied.ok()) {
    const HostPoolConfig& pool = running_.engine.defaults.pool;
    LogEvent("info", "config_reload",
             {{"result", "ok"},
              {"trigger", std::string(trigger)},
              {"max_connections_per_host", absl::StrCat(pool.max_connections)},
              {"host_overrides", absl::StrCat(running_.engine.per_host.size())},
              {"egress_profiles", absl::StrCat(running_.engine.profiles.size())},
              {"auth_tokens", absl::StrCat(authenticator_->token_count())},
              {"log_level", running_.log_level}});
  } else {
    // One line naming the bad setting; what runs is still the old config.
    LogEvent("error", "config_reload",
             {{"result", "rejected"},
              {"trigger", std::string(trigger)},
              {"error", std::string(applied.message())}});
  }
  return applied;
}

absl::Status FetchPoolServer::ApplyLocked(const absl::StatusOr<ServerConfig>& next) {
  if (!next.ok()) return next.status();
  if (std::vector<std::string> fixed = RestartOnlyChanges(running_, *next); !fixed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        absl::StrJoin(fixed, ", "), fixed.size() == 1 ? " changed but is" : " changed but are",
        " read only at start: restart fetchpoold to apply; nothing of this config was applied"));
  }
  // Everything that can fail comes first, so a refused config changes nothing.
  std::unique_ptr<AuthTokens> tokens;
  if (!next->auth_tokens_file.empty()) {
    absl::StatusOr<AuthTokens> loaded = AuthTokens::Load(next->auth_tokens_file);
    if (!loaded.ok()) return loaded.status();
    tokens = std::make_unique<AuthTokens>(*std::move(loaded));
  }
  absl::StatusOr<LogLevel> level = ParseLogLevel(next->log_level);
  if (!level.ok()) return level.status();
  // The last check, and the first change: the engine takes it or not whole.
  if (absl::Status s = engine_->Reconfigure(EngineConfigOf(*next)); !s.ok()) return s;
  authenticator_->SetTokens(std::move(tokens));
  SetMinLogLevel(*level);
  running_ = *next;
  return absl::OkStatus();
}

FetchPoolServer::DrainReport FetchPoolServer::Drain(absl::Duration delay, absl::Duration grace) {
  DrainReport report;
  if (shut_down_) return report;
  // Readiness fails at the next probe and health watchers are told now; no
  // later SetServingStatus can turn it back.
  server_->GetHealthCheckService()->Shutdown();
  LogEvent("info", "drain_not_serving", {{"delay", absl::FormatDuration(delay)}});
  absl::SleepFor(delay);

  report.in_flight_at_stop = caller_quotas_->TotalInFlight();
  LogEvent("info", "drain_stop_accepting",
           {{"fetches_in_flight", absl::StrCat(report.in_flight_at_stop)},
            {"grace", absl::FormatDuration(grace)}});
  const absl::Time stop = absl::Now();
  // Server::Shutdown stops taking calls at once and returns when every call
  // has finished; the streams are ended below, the unary fetches end
  // themselves.
  absl::Notification calls_done;
  std::thread stopper([this, deadline = stop + grace + kAnswerMargin, &calls_done] {
    server_->Shutdown(absl::ToChronoTime(deadline));
    calls_done.Notify();
  });
  service_->DrainStreams();
  if (!calls_done.WaitForNotificationWithTimeout(grace)) {
    report.cut_off = caller_quotas_->TotalInFlight();
    // Fails every fetch still queued or running with SHUTTING_DOWN; their
    // calls answer, and Server::Shutdown returns.
    engine_->Shutdown(absl::ZeroDuration());
    calls_done.WaitForNotification();
  }
  stopper.join();
  report.stop_to_idle = absl::Now() - stop;
  Shutdown(absl::ZeroDuration());  // metrics, then the engine: idle connections close
  return report;
}

void FetchPoolServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  // The engine keeps running while gRPC drains, so in-flight fetches can
  // still complete; gRPC cancels the rest at the deadline.
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  }
  metrics_.reset();  // scrapes ask the engine: stop them before it stops
  if (engine_ != nullptr) engine_->Shutdown(absl::ZeroDuration());
}

}  // namespace fetchpool
