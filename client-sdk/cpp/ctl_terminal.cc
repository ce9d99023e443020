#include "client-sdk/cpp/ctl_terminal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"

namespace fetchpool {
namespace client {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM};
constexpr char kInterrupted = 'i';
constexpr char kStop = 's';

// The handler's only state; a lock-free atomic is async-signal-safe.
std::atomic<int> g_interrupt_fd{-1};
struct sigaction g_previous[sizeof(kSignals) / sizeof(kSignals[0])];

extern "C" void OnInterruptSignal(int) {
  const int saved_errno = errno;
  const int fd = g_interrupt_fd.load();
  if (fd >= 0) {
    // Full pipe: an interrupt is already pending, which is as good.
    [[maybe_unused]] ssize_t n = write(fd, &kInterrupted, 1);
  }
  errno = saved_errno;
}

int EnvInt(const char* name) {
  const char* value = std::getenv(name);
  int n = 0;
  return value != nullptr && absl::SimpleAtoi(value, &n) && n > 0 ? n : 0;
}

}  // namespace

TerminalSize QueryTerminalSize(int fd) {
  struct winsize ws {};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return {ws.ws_col, ws.ws_row};
  return {EnvInt("COLUMNS"), EnvInt("LINES")};
}

CtlEnvironment CtlEnvironmentForStdout() {
  CtlEnvironment env;
  env.out_is_terminal = isatty(STDOUT_FILENO) == 1;
  env.terminal_size = [] { return QueryTerminalSize(STDOUT_FILENO); };
  env.handle_interrupts = true;
  return env;
}

InterruptHandler::InterruptHandler(std::function<void()> on_interrupt) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("fetchpoolctl: pipe");  // Ctrl-C keeps its usual action
    return;
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  fcntl(write_fd_, F_SETFL, O_NONBLOCK);  // the handler must never block
  int expected = -1;
  if (!g_interrupt_fd.compare_exchange_strong(expected, write_fd_)) {
    std::fprintf(stderr, "fetchpoolctl: a second InterruptHandler is ignored\n");
    return;
  }
  installed_ = true;
  thread_ = std::thread([this, on_interrupt = std::move(on_interrupt)] {
    char c;
    for (;;) {
      ssize_t n = read(read_fd_, &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || c == kStop) return;
      on_interrupt();
    }
  });
  struct sigaction action {};
  action.sa_handler = OnInterruptSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (size_t i = 0; i < sizeof(kSignals) / sizeof(kSignals[0]); ++i) {
    sigaction(kSignals[i], &action, &g_previous[i]);
  }
}

InterruptHandler::~InterruptHandler() {
  if (installed_) {
    for (size_t i = 0; i < sizeof(kSignals) / sizeof(kSignals[0]); ++i) {
      sigaction(kSignals[i], &g_previous[i], nullptr);
    }
    g_interrupt_fd.store(-1);
    // Blocking write: the stop byte must get through even behind a pipe
    // full of interrupts, which the thread is draining.
    fcntl(write_fd_, F_SETFL, 0);
    ssize_t n;
    do {
      n = write(write_fd_, &kStop, 1);
    } while (n < 0 && errno == EINTR);
    thread_.join();
  }
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

}  // namespace client
}  // namespace fetchpool
