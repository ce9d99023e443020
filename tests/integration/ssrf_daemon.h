#ifndef FETCHPOOL_TESTS_INTEGRATION_SSRF_DAEMON_H_
#define FETCHPOOL_TESTS_INTEGRATION_SSRF_DAEMON_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fetchpool::testing {

// The real fetchpoold binary as a child process, its JSON log in a file.
// Used from the test's main thread only.
class FetchpooldProcess {
 public:
  FetchpooldProcess() = default;
  ~FetchpooldProcess();  // Calls Stop().

  FetchpooldProcess(const FetchpooldProcess&) = delete;
  FetchpooldProcess& operator=(const FetchpooldProcess&) = delete;

  // Runs `binary` with `flags` and waits (generously: sanitizer builds are
  // slow) for its "start" log line. A daemon that exits first, e.g. on an
  // unknown flag, is an error carrying its log.
  absl::Status Start(const std::string& binary, const std::vector<std::string>& flags);
  // Sends SIGTERM without waiting, so several daemons drain at once.
  void Terminate();
  // SIGTERM, then SIGKILL if it has not exited after a while. Idempotent.
  // OK when the daemon exited 0 (or was not running); otherwise an error
  // with its exit status and log (a sanitizer report, under ASan or TSan).
  absl::Status Stop();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string log() const;  // everything the daemon has written so far

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  int port_ = 0;
  int metrics_port_ = 0;
};

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_INTEGRATION_SSRF_DAEMON_H_
