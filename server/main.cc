// fetchpoold: the fetchpool service. Flags and an optional --config file
// (see README "Configuration"); SIGTERM/SIGINT drain gracefully, SIGHUP
// reloads the config file (README "Deploying").
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/synchronization/mutex.h"
#include "server/config_file_watcher.h"
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

// Exit status when the drain had to fail fetches at the grace deadline.
constexpr int kExitWorkCutOff = 3;

struct ProcessResources {
  int threads = -1;
  std::vector<std::string> other_threads;  // the names of those but this one
  // Open descriptor -> what it is ("socket:[123]", "anon_inode:[eventfd]").
  std::map<int, std::string> fds;
};

// Logged at exit, so a test (and an operator) can see that the drain left
// no thread or descriptor behind: the threads and the descriptors open at
// start (1 thread; a sanitizer's runtime may add its own), plus gRPC's process-wide poller (an epoll set and its wakeup eventfd,
// made once by the first grpc_init and kept for the process's life: gRPC
// 1.51's epoll1 engine never closes them).
ProcessResources CountProcessResources() {
  ProcessResources r;
  if (DIR* tasks = opendir("/proc/self/task")) {
    r.threads = 0;
    const std::string self = absl::StrCat(gettid());
    while (const dirent* e = readdir(tasks)) {
      if (e->d_name[0] == '.') continue;
      ++r.threads;
      if (e->d_name == self) continue;
      std::string name;
      std::getline(std::ifstream(absl::StrCat("/proc/self/task/", e->d_name, "/comm")), name);
      r.other_threads.push_back(name);
    }
    closedir(tasks);
  }
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return r;
  while (const dirent* e = readdir(fds)) {
    int fd = 0;
    if (e->d_name[0] == '.' || !absl::SimpleAtoi(e->d_name, &fd) || fd == dirfd(fds)) continue;
    char target[256] = {};
    const ssize_t n =
        readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), target, sizeof(target) - 1);
    r.fds[fd] = n > 0 ? std::string(target, n) : "?";
  }
  closedir(fds);
  return r;
}

// The descriptors open now that were not at start, "fd:what" joined by commas.
std::string NewDescriptors(const ProcessResources& start, const ProcessResources& now) {
  std::vector<std::string> added;
  for (const auto& [fd, what] : now.fds) {
    auto it = start.fds.find(fd);
    if (it == start.fds.end() || it->second != what) added.push_back(absl::StrCat(fd, ":", what));
  }
  return absl::StrJoin(added, ",");
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
  sigaddset(&stop_signals, SIGHUP);  // reload the config file
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  RaiseOpenFilesLimit();
  const ProcessResources at_start = CountProcessResources();

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
       {"http_version", fetchpool::HttpVersionName(f.http_version)},
       {"max_streams_per_connection", absl::StrCat(d.max_streams_per_connection)},
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
                                        {"open_fds_before_start", absl::StrCat(at_start.fds.size())},
                                        {"threads_before_start", absl::StrCat(at_start.threads)},
                                        {"version", FETCHPOOL_VERSION}});

  // Reloads: SIGHUP (below) and, with --watch_config, the file's changes.
  fetchpool::FetchPoolServer& running = **server;
  auto reload = [&running](absl::string_view trigger) {
    (void)running.Reload(fetchpool::LoadServerConfigFromFlags(), trigger);
  };
  std::unique_ptr<fetchpool::ConfigFileWatcher> watcher;
  if (fetchpool::WatchConfigFlag()) {
    if (fetchpool::ConfigFileFlag().empty()) {
      fetchpool::LogEvent("error", "start_failed", {{"error", "--watch_config needs --config"}});
      return 2;
    }
    absl::StatusOr<std::unique_ptr<fetchpool::ConfigFileWatcher>> started =
        fetchpool::ConfigFileWatcher::Start(fetchpool::ConfigFileFlag(),
                                            [reload] { reload("file_change"); });
    if (!started.ok()) {
      fetchpool::LogEvent("error", "start_failed", {{"error", std::string(started.status().message())}});
      return 1;
    }
    watcher = *std::move(started);
  }

  int signal_number = 0;
  for (;;) {
    sigwait(&stop_signals, &signal_number);
    if (signal_number != SIGHUP) break;
    reload("SIGHUP");
  }
  watcher.reset();  // no reload during the drain
  const absl::Time signalled = absl::Now();
  // The drain timings in force: a reload may have changed them.
  const fetchpool::ServerConfig in_force = running.running_config();
  fetchpool::LogEvent("info", "drain", {{"signal", absl::StrCat(signal_number)},
                                        {"delay", absl::FormatDuration(in_force.drain_delay)},
                                        {"grace", absl::FormatDuration(in_force.shutdown_grace)}});
  const fetchpool::FetchPoolServer::DrainReport report =
      running.Drain(in_force.drain_delay, in_force.shutdown_grace);
  server->reset();
  // gRPC's pool threads leave on their own once the server is gone; under
  // a slow (TSan) build one may still be on its way out. Give them up to 2 s:
  // a thread that is really left behind is still counted below.
  ProcessResources left = CountProcessResources();
  for (const absl::Time give_up = absl::Now() + absl::Seconds(2);
       left.threads > at_start.threads && absl::Now() < give_up;
       left = CountProcessResources()) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  fetchpool::LogEvent(report.cut_off == 0 ? "info" : "error", "stopped",
                      {{"fetches_in_flight_at_stop", absl::StrCat(report.in_flight_at_stop)},
                       {"fetches_cut_off", absl::StrCat(report.cut_off)},
                       {"stop_to_idle", absl::FormatDuration(report.stop_to_idle)},
                       {"signal_to_exit", absl::FormatDuration(absl::Now() - signalled)},
                       {"threads", absl::StrCat(left.threads)},
                       {"other_threads", absl::StrJoin(left.other_threads, ",")},
                       {"open_fds", absl::StrCat(left.fds.size())},
                       {"fds_opened_since_start", NewDescriptors(at_start, left)}});
  // Non-zero tells the orchestrator (and whoever reads the pod's last
  // state) that work was lost: the grace period was too short for it.
  return report.cut_off == 0 ? 0 : kExitWorkCutOff;
}
