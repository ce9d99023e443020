// fetchpoold: the fetchpool service. Flags and an optional --config file
// (see README "Configuration"); SIGTERM/SIGINT drain gracefully.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "server/egress_profile_config.h"
#include "server/fetchpool_server.h"
#include "server/json_log.h"
#include "server/server_config.h"
#include "server/server_flags.h"

namespace {

// Every pooled connection and every caller's connection is a descriptor.
// Container runtimes often start processes with a soft limit of 1024 and a
// much higher hard limit: take the hard limit.
void RaiseOpenFilesLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    fetchpool::LogEvent("info", "open_files_limit",
                        {{"from", absl::StrCat(before)}, {"to", absl::StrCat(limit.rlim_cur)}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "fetchpool: makes HTTP requests for gRPC callers over per-host connection pools.\n"
      "Usage: fetchpoold [--listen=0.0.0.0:50051] [--config=FILE] [flags]");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil ships with mutex deadlock detection on; gRPC takes
  // absl::Mutex on every call, and the cycle bookkeeping cost ~5% of the
  // instructions per Fetch (callgrind).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals are taken by sigwait below, never by an arbitrary thread: block
  // them before any thread (gRPC's, the engine's) starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  RaiseOpenFilesLimit();

  absl::StatusOr<fetchpool::ServerConfig> config = fetchpool::LoadServerConfigFromFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "fetchpoold: bad configuration: %s\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }
  const fetchpool::HostPoolConfig& d = config->engine.defaults.pool;
  const fetchpool::FetchConfig& f = config->engine.defaults.fetch;
  const uint32_t loops = config->engine.event_loops;
  fetchpool::LogEvent(
      "info", "config",
      {{"listen", config->listen},
       {"event_loops", loops == 0 ? absl::StrCat(fetchpool::UsableCpuCount(), " (one per CPU)")
                                  : absl::StrCat(loops)},
       {"max_connections_per_host", absl::StrCat(d.max_connections)},
       {"max_idle_connections_per_host", absl::StrCat(d.EffectiveMaxIdle())},
       {"max_waiters_per_host", absl::StrCat(d.max_waiters)},
       {"wait_timeout", absl::FormatDuration(d.wait_timeout)},
       {"idle_timeout", absl::FormatDuration(d.idle_timeout)},
       {"connect_timeout", absl::FormatDuration(f.connect_timeout)},
       {"max_response_bytes", absl::StrCat(f.max_response_bytes)},
       {"on_deadline", fetchpool::OnDeadlineName(f.on_deadline)},
       {"allow_cidrs", absl::StrJoin(config->engine.allow_cidrs, ",")},
       {"host_overrides", absl::StrCat(config->engine.per_host.size())},
       {"egress_profiles", fetchpool::DescribeDefaultProfile(config->engine)}});
  for (const std::string& warning : fetchpool::TlsWarnings(*config)) {
    fetchpool::LogEvent("warning", "tls_not_verified", {{"message", warning}});
  }

  // The security posture (README "Security"): who can call, and how much.
  fetchpool::LogEvent(
      "info", "security",
      {{"tls", config->tls_cert_file.empty() ? "off" : "on"},
       {"mtls", config->tls_client_ca_file.empty() ? "off" : "on"},
       {"auth_tokens_file", config->auth_tokens_file.empty() ? "off" : config->auth_tokens_file},
       {"max_inflight_per_caller", config->max_inflight_per_caller == 0
                                       ? std::string("unlimited")
                                       : absl::StrCat(config->max_inflight_per_caller)},
       {"max_watch_streams", absl::StrCat(config->max_watch_streams)},
       {"stats_callers", config->stats_callers.empty()
                             ? std::string("everyone")
                             : absl::StrJoin(config->stats_callers, ",")}});

  absl::StatusOr<std::unique_ptr<fetchpool::FetchPoolServer>> server =
      fetchpool::FetchPoolServer::Start(*config);
  if (!server.ok()) {
    fetchpool::LogEvent("error", "start_failed", {{"error", std::string(server.status().message())}});
    return 1;
  }
  fetchpool::LogEvent("info", "start", {{"listen", config->listen},
                                        {"port", absl::StrCat((*server)->port())},
                                        {"metrics_port", absl::StrCat((*server)->metrics_port())},
                                        {"auth_tokens", absl::StrCat((*server)->auth_token_count())},
                                        {"version", FETCHPOOL_VERSION}});

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  fetchpool::LogEvent("info", "drain", {{"signal", absl::StrCat(signal_number)},
                                        {"grace", absl::FormatDuration(config->shutdown_grace)}});
  (*server)->Shutdown(config->shutdown_grace);
  fetchpool::LogEvent("info", "stopped");
  return 0;
}
