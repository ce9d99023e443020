#ifndef FETCHPOOL_CLIENT_SDK_CPP_CTL_ARGS_H_
#define FETCHPOOL_CLIENT_SDK_CPP_CTL_ARGS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client-sdk/cpp/top_view.h"

namespace fetchpool {
namespace client {

// fetchpoolctl's command line, parsed by CLI11. fetchpoolctl's own flags
// (--target, --timeout, -v) may come before or after the command; a
// command's flags follow the command; a flag of one command is refused on
// the other.
struct CtlArgs {
  std::string command;  // "fetch", "stats" or "top"; "" only when help is set
  bool help = false;
  std::string help_text;  // set with help: the usage of the command asked about

  std::string target = "localhost:50051";
  absl::Duration timeout = absl::Seconds(10);
  bool verbose = false;

  // fetch
  std::string url;
  std::string method;  // "" means POST with a body, GET without
  std::vector<std::pair<std::string, std::string>> headers;
  absl::optional<std::string> data;
  absl::optional<std::string> data_file;
  bool include = false;
  uint64_t max_response_bytes = 0;
  bool follow = false;

  // stats and top
  std::string host;
  // stats
  bool json = false;

  // top
  absl::Duration interval = absl::Seconds(1);
  absl::optional<int64_t> iterations;  // frames to show; unset: the default
  bool once = false;
  TopSort sort = TopSort::kWaiters;
};

// `args` is argv without the program name. Errors are INVALID_ARGUMENT with
// CLI11's message, meant for the user.
absl::StatusOr<CtlArgs> ParseCtlArgs(const std::vector<std::string>& args);

}  // namespace client
}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_CTL_ARGS_H_
