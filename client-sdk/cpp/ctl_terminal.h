#ifndef FETCHPOOL_CLIENT_SDK_CPP_CTL_TERMINAL_H_
#define FETCHPOOL_CLIENT_SDK_CPP_CTL_TERMINAL_H_

// What fetchpoolctl needs from its process beyond the streams: whether
// stdout is a terminal and how big, the clock, and Ctrl-C. main() takes the
// real ones (CtlEnvironmentForStdout); tests pass their own.

#include <functional>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fetchpool {
namespace client {

struct TerminalSize {
  int columns = 0;  // 0: unknown
  int rows = 0;
};

struct CtlEnvironment {
  // stdout is a terminal: top redraws in place, fitted to terminal_size().
  bool out_is_terminal = false;
  // Asked before each frame, so a resized window is followed. Null: unknown.
  std::function<TerminalSize()> terminal_size;
  // top ends cleanly on SIGINT / SIGTERM (cancels its watch, exits 0)
  // instead of dying with the terminal's cursor hidden.
  bool handle_interrupts = false;
  // When each snapshot arrived: rates are over the time between two.
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  absl::TimeZone time_zone = absl::LocalTimeZone();  // of the header's clock
};

// The environment of a process whose stdout is file descriptor 1.
CtlEnvironment CtlEnvironmentForStdout();

// The size of the terminal on `fd` (TIOCGWINSZ), else $COLUMNS / $LINES,
// else zeros.
TerminalSize QueryTerminalSize(int fd);

// While it exists, SIGINT and SIGTERM run `on_interrupt` on a thread of its
// own, once per signal, instead of their usual action: the signal handler
// only writes a byte to a pipe, so `on_interrupt` may do anything (cancel a
// gRPC call, say). The destructor puts the previous handlers back. One at a
// time per process.
class InterruptHandler {
 public:
  explicit InterruptHandler(std::function<void()> on_interrupt);
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;
  ~InterruptHandler();

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
  bool installed_ = false;
  std::thread thread_;
};

}  // namespace client
}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_CTL_TERMINAL_H_
