#include "tests/integration/ssrf_daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace fetchpool::testing {
namespace {

// The value of "key":"value" in the first log line holding `event`.
bool FindLogField(const std::string& log, const std::string& event, const std::string& key,
                  std::string* value) {
  std::istringstream lines(log);
  std::string line;
  const std::string event_tag = absl::StrCat("\"event\":\"", event, "\"");
  const std::string key_tag = absl::StrCat("\"", key, "\":\"");
  while (std::getline(lines, line)) {
    if (line.find(event_tag) == std::string::npos) continue;
    const size_t at = line.find(key_tag);
    if (at == std::string::npos) return false;
    const size_t begin = at + key_tag.size();
    const size_t end = line.find('"', begin);
    if (end == std::string::npos) return false;
    *value = line.substr(begin, end - begin);
    return true;
  }
  return false;
}

}  // namespace

FetchpooldProcess::~FetchpooldProcess() { Stop().IgnoreError(); }

std::string FetchpooldProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

absl::Status FetchpooldProcess::Start(const std::string& binary,
                                      const std::vector<std::string>& flags) {
  char path_template[] = "/tmp/fetchpool-ssrf-fetchpoold-XXXXXX";
  const int log_fd = mkstemp(path_template);
  if (log_fd < 0) return absl::InternalError("mkstemp for the fetchpoold log failed");
  log_path_ = path_template;

  std::vector<std::string> args = {binary};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
  const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(log_fd);
  if (rc != 0) {
    pid_ = -1;
    return absl::InternalError(absl::StrCat("cannot run ", binary, ": errno ", rc));
  }

  const std::string command = absl::StrJoin(args, " ");
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::FailedPreconditionError(
          absl::StrCat("`", command, "` exited (status ", status, ") before starting:\n", log()));
    }
    const std::string text = log();
    std::string port, metrics_port;
    if (FindLogField(text, "start", "port", &port) &&
        FindLogField(text, "start", "metrics_port", &metrics_port) &&
        absl::SimpleAtoi(port, &port_) && absl::SimpleAtoi(metrics_port, &metrics_port_)) {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  const std::string text = log();
  Stop().IgnoreError();
  return absl::DeadlineExceededError(
      absl::StrCat("`", command, "` did not log its start within 60 s:\n", text));
}

void FetchpooldProcess::Terminate() {
  if (pid_ > 0) kill(pid_, SIGTERM);
}

absl::Status FetchpooldProcess::Stop() {
  absl::Status result;
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > give_up) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    pid_ = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      result = absl::InternalError(absl::StrCat(
          "fetchpoold did not exit cleanly after SIGTERM (",
          WIFEXITED(status) ? absl::StrCat("exit ", WEXITSTATUS(status))
                            : absl::StrCat("signal ", WTERMSIG(status)),
          "):\n", log()));
    }
  }
  if (!log_path_.empty()) {
    unlink(log_path_.c_str());
    log_path_.clear();
  }
  return result;
}

}  // namespace fetchpool::testing
