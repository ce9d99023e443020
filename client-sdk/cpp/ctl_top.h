#ifndef FETCHPOOL_CLIENT_SDK_CPP_CTL_TOP_H_
#define FETCHPOOL_CLIENT_SDK_CPP_CTL_TOP_H_

#include <ostream>

#include "client-sdk/cpp/ctl_args.h"
#include "client-sdk/cpp/ctl_terminal.h"
#include "fetchpool/client.h"

namespace fetchpool {
namespace client {

// ANSI sequences top writes on a terminal.
inline constexpr char kClearScreen[] = "\x1b[H\x1b[2J";  // home, erase all
inline constexpr char kCursorHome[] = "\x1b[H";
inline constexpr char kEraseLineEnd[] = "\x1b[K";        // before each '\n'
inline constexpr char kEraseBelow[] = "\x1b[J";          // after the frame
inline constexpr char kHideCursor[] = "\x1b[?25l";
inline constexpr char kShowCursor[] = "\x1b[?25h";

// `fetchpoolctl top`: watches the pools and draws a frame per snapshot
// (RenderTopFrame), until --iterations frames, Ctrl-C (exit 0) or the end
// of the watch (exit 1). On a terminal without --once: redraws in place,
// the first frame at once (rates "-"), fitted to the terminal's size.
// Otherwise: frames separated by a blank line, fitted to the width only if
// stdout is a terminal, each with rates (the first snapshot is the baseline).
int RunTop(Client& client, const CtlArgs& args, std::ostream& out, std::ostream& err,
           const CtlEnvironment& env);

}  // namespace client
}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_CTL_TOP_H_
