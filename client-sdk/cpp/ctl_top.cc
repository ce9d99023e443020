#include "client-sdk/cpp/ctl_top.h"

#include <atomic>
#include <memory>

#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/types/optional.h"
#include "client-sdk/cpp/ctl_commands.h"
#include "client-sdk/cpp/ctl_output.h"
#include "client-sdk/cpp/top_view.h"

namespace fetchpool {
namespace client {

int RunTop(Client& client, const CtlArgs& args, std::ostream& out, std::ostream& err,
           const CtlEnvironment& env) {
  const bool redraw = env.out_is_terminal && !args.once;
  // 0: until interrupted.
  const int64_t frames = args.iterations.has_value() ? *args.iterations : redraw ? 0 : 1;
  auto clock = [&] { return env.clock ? env.clock() : absl::Now(); };
  auto terminal_size = [&]() -> TerminalSize {
    if (!env.out_is_terminal || !env.terminal_size) return {};
    return env.terminal_size();
  };

  std::unique_ptr<StatsWatch> watch = client.WatchStats(args.host, args.interval);
  std::atomic<bool> interrupted{false};
  // Made after the watch and gone before it: it cancels the watch. Present
  // before the first Next(), so Ctrl-C also ends a slow connect.
  absl::optional<InterruptHandler> interrupts;
  if (env.handle_interrupts) {
    interrupts.emplace([&] {
      interrupted = true;
      watch->Cancel();
    });
  }

  if (redraw) out << kHideCursor << std::flush;
  fetchpool::v1::StatsResponse prev;
  fetchpool::v1::StatsResponse cur;
  bool have_prev = false;
  absl::Time prev_time;
  int64_t drawn = 0;
  while (frames == 0 || drawn < frames) {
    if (!watch->Next(&cur)) break;
    const absl::Time now = clock();
    if (have_prev || redraw) {
      TopFrameOptions options;
      options.sort = args.sort;
      options.time = now;
      options.time_zone = env.time_zone;
      const TerminalSize size = terminal_size();
      // One line fewer than the screen: the last line's newline would scroll.
      if (redraw && size.rows > 1) options.height = size.rows - 1;
      std::string frame = RenderTopFrame(have_prev ? &prev : nullptr, cur, now - prev_time, size.columns, options);
      if (redraw) {
        // Overwrite in place rather than clear each time: no flicker.
        out << (drawn == 0 ? kClearScreen : kCursorHome)
            << absl::StrReplaceAll(frame, {{"\n", absl::StrCat(kEraseLineEnd, "\n")}}) << kEraseBelow;
      } else {
        out << (drawn == 0 ? "" : "\n") << frame;
      }
      out.flush();
      ++drawn;
    }
    prev.Swap(&cur);
    prev_time = now;
    have_prev = true;
  }
  watch->Cancel();     // done with it, whichever way
  interrupts.reset();  // before `watch` goes: it refers to it
  if (redraw) out << kShowCursor << std::flush;

  if (interrupted) return kExitOk;
  if (frames != 0 && drawn >= frames) return kExitOk;
  const absl::Status status = watch->status();
  if (status.ok()) {
    err << "error: fetchpool ended the watch\n";
  } else {
    err << FormatRpcError(status) << "\n";
  }
  return kExitRpcError;
}

}  // namespace client
}  // namespace fetchpool
