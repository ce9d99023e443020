#ifndef FETCHPOOL_CLIENT_SDK_CPP_CTL_COMMANDS_H_
#define FETCHPOOL_CLIENT_SDK_CPP_CTL_COMMANDS_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client-sdk/cpp/ctl_args.h"
#include "client-sdk/cpp/ctl_terminal.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool {
namespace client {

// Exit statuses, as documented in the --help text.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRpcError = 1;
inline constexpr int kExitUsage = 2;

// All of fetchpoolctl but the process: `argv` without the program name;
// returns the exit status. Streams and the rest of the process's environment
// (terminal, clock, signals: only `top` uses them) are parameters so tests
// run it in-process; the default is a plain stream, no signal handling.
int RunCtl(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err,
           const CtlEnvironment& env = CtlEnvironment());

// The FetchRequest that `fetch` sends; reads --data-file.
absl::StatusOr<fetchpool::v1::FetchRequest> BuildFetchRequest(const CtlArgs& args);

}  // namespace client
}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_CTL_COMMANDS_H_
