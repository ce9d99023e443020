#include "client-sdk/cpp/ctl_args.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fetchpool {
namespace client {

const char kCtlUsage[] = R"(usage: fetchpoolctl [global flags] COMMAND [flags] [URL]

Talks to a fetchpool server. Flags may be given before or after the command.

commands:
  fetch URL     make one HTTP request through fetchpool; the body goes to stdout
  stats         show the per-host connection pools
  top           live view of the pools, like top, refreshed every --interval
  help          this text

global flags:
  --target=HOST:PORT       fetchpool server (default localhost:50051)
  --timeout=DURATION       gRPC deadline of the call, e.g. 500ms, 10s (default 10s);
                           top's watch has none: it runs until you quit
  -v, --verbose            fetch: one timing line on stderr (queue wait, dns,
                           connect, tls, first byte, total, reused, pool)
  -h, --help               this text

fetch flags:
  -X, --request=METHOD     HTTP method (default GET, or POST with a body)
  -H, --header='Name: v'   request header; repeat for more
  -d, --data=BODY          request body
      --data-file=FILE     request body read from FILE
  -i, --include            print the status line and headers before the body
      --max-response-bytes=N
                           refuse bodies over N bytes (default: the server's limit)
  -L, --follow             follow redirects

stats flags:
      --host=KEY           one pool only, as scheme://host:port
      --json               the StatsResponse as one line of JSON, zeros included

top flags:
      --host=KEY           one pool only, as scheme://host:port
      --interval=DURATION  time between snapshots, 100ms to 1m (default 1s)
      --sort=ORDER         waiters (default: most waiters, then busiest), busy,
                           reqs (REQ/S) or tw (TIME_WAIT estimate)
      --iterations=N       exit after N frames (default: on Ctrl-C when stdout
                           is a terminal, after 1 frame otherwise)
      --once               print one frame and exit, even on a terminal

  On a terminal, top redraws in place and fits the screen: long hosts are
  shortened, then the least useful columns hidden (named in the header).
  Otherwise, and with --once, it prints plain frames separated by a blank
  line, the first one interval after it starts, so that every frame has rates.
  Ctrl-C quits. Columns:
    MAX BUSY IDLE CONN WAIT  connection cap, in use, idle, connecting; waiters
    OLDEST                   age of the oldest waiter
    REQ/S OPEN/S ERR/S       requests, connections opened, failed fetches, per
                             second over the last interval
    REUSE%                   share of that interval's requests on a reused connection
    TW TWK                   TIME_WAIT: fetchpool's estimate (sockets it closed
                             first in the last 60 s), the kernel's count
    QWAIT99 FETCH99          99th percentile of that interval's wait for a
                             connection, and of its whole fetches
  "-" means no figure: no previous snapshot, or nothing in the interval.

A flag's value may follow as the next argument: --target localhost:50051.

exit status: 0 when fetchpool answered (whatever the HTTP status; for top, on
Ctrl-C or after --iterations), 1 on a gRPC error (printed as "error: CODE
REASON: message"), 2 on a usage error.

examples:
  fetchpoolctl fetch https://example.com/ -i
  fetchpoolctl --target=fetchpool:50051 fetch http://api/items -X POST \
      -H 'Content-Type: application/json' -d '{"a":1}' --verbose
  fetchpoolctl stats --json
  fetchpoolctl top --sort=busy
  fetchpoolctl top --interval=10s --iterations=6 >> pools.log
)";

namespace {

// The commands a flag applies to, as a bit set; 0 means every command.
enum Scope : unsigned { kGlobal = 0, kFetch = 1, kStats = 2, kTop = 4 };

struct FlagSpec {
  const char* long_name;
  char short_name;  // '\0' for none
  bool takes_value;
  unsigned scope;
  absl::Status (*apply)(CtlArgs& args, absl::string_view value);
};

absl::Status ParseHeader(CtlArgs& args, absl::string_view value) {
  size_t colon = value.find(':');
  absl::string_view name = colon == absl::string_view::npos ? "" : absl::StripAsciiWhitespace(value.substr(0, colon));
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("header '", value, "' is not 'Name: value'"));
  args.headers.emplace_back(std::string(name), std::string(absl::StripAsciiWhitespace(value.substr(colon + 1))));
  return absl::OkStatus();
}

absl::Status ParseTimeout(CtlArgs& args, absl::string_view value) {
  if (!absl::ParseDuration(value, &args.timeout) || args.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--timeout '", value, "' is not a positive duration like 10s"));
  }
  return absl::OkStatus();
}

absl::Status ParseMaxResponseBytes(CtlArgs& args, absl::string_view value) {
  if (!absl::SimpleAtoi(value, &args.max_response_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("--max-response-bytes '", value, "' is not a byte count"));
  }
  return absl::OkStatus();
}

absl::Status ParseInterval(CtlArgs& args, absl::string_view value) {
  // The server holds the range (100ms to 1m) and says so when refused.
  if (!absl::ParseDuration(value, &args.interval) || args.interval <= absl::ZeroDuration() ||
      args.interval == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--interval '", value, "' is not a positive duration like 1s"));
  }
  return absl::OkStatus();
}

absl::Status ParseIterations(CtlArgs& args, absl::string_view value) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--iterations '", value, "' is not a count of frames (1 or more)"));
  }
  args.iterations = n;
  return absl::OkStatus();
}

absl::Status ParseSort(CtlArgs& args, absl::string_view value) {
  absl::optional<TopSort> sort = ParseTopSort(value);
  if (!sort.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("--sort '", value, "' is not one of waiters, busy, reqs, tw"));
  }
  args.sort = *sort;
  return absl::OkStatus();
}

constexpr FlagSpec kFlags[] = {
    {"target", '\0', true, Scope::kGlobal,
     [](CtlArgs& a, absl::string_view v) { a.target = std::string(v); return absl::OkStatus(); }},
    {"timeout", '\0', true, Scope::kGlobal, ParseTimeout},
    {"verbose", 'v', false, Scope::kGlobal,
     [](CtlArgs& a, absl::string_view) { a.verbose = true; return absl::OkStatus(); }},
    {"help", 'h', false, Scope::kGlobal,
     [](CtlArgs& a, absl::string_view) { a.help = true; return absl::OkStatus(); }},
    {"request", 'X', true, Scope::kFetch,
     [](CtlArgs& a, absl::string_view v) { a.method = std::string(v); return absl::OkStatus(); }},
    {"header", 'H', true, Scope::kFetch, ParseHeader},
    {"data", 'd', true, Scope::kFetch,
     [](CtlArgs& a, absl::string_view v) { a.data = std::string(v); return absl::OkStatus(); }},
    {"data-file", '\0', true, Scope::kFetch,
     [](CtlArgs& a, absl::string_view v) { a.data_file = std::string(v); return absl::OkStatus(); }},
    {"include", 'i', false, Scope::kFetch,
     [](CtlArgs& a, absl::string_view) { a.include = true; return absl::OkStatus(); }},
    {"max-response-bytes", '\0', true, Scope::kFetch, ParseMaxResponseBytes},
    {"follow", 'L', false, Scope::kFetch,
     [](CtlArgs& a, absl::string_view) { a.follow = true; return absl::OkStatus(); }},
    {"host", '\0', true, Scope::kStats | Scope::kTop,
     [](CtlArgs& a, absl::string_view v) { a.host = std::string(v); return absl::OkStatus(); }},
    {"json", '\0', false, Scope::kStats,
     [](CtlArgs& a, absl::string_view) { a.json = true; return absl::OkStatus(); }},
    {"interval", '\0', true, Scope::kTop, ParseInterval},
    {"iterations", '\0', true, Scope::kTop, ParseIterations},
    {"once", '\0', false, Scope::kTop,
     [](CtlArgs& a, absl::string_view) { a.once = true; return absl::OkStatus(); }},
    {"sort", '\0', true, Scope::kTop, ParseSort},
};

const FlagSpec* FindLong(absl::string_view name) {
  for (const FlagSpec& f : kFlags) {
    if (name == f.long_name) return &f;
  }
  return nullptr;
}

const FlagSpec* FindShort(char name) {
  for (const FlagSpec& f : kFlags) {
    if (f.short_name != '\0' && name == f.short_name) return &f;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<CtlArgs> ParseCtlArgs(const std::vector<std::string>& argv) {
  CtlArgs args;
  std::vector<std::string> positional;
  // Scope is checked once the command is known, since it may come last.
  std::vector<std::pair<const FlagSpec*, std::string>> used;
  bool flags_done = false;

  for (size_t i = 0; i < argv.size(); ++i) {
    absl::string_view arg = argv[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      positional.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    const FlagSpec* flag = nullptr;
    std::string spelled;  // as the user wrote it, for messages
    absl::optional<std::string> value;
    if (arg[1] == '-') {
      absl::string_view body = arg.substr(2);
      size_t eq = body.find('=');
      flag = FindLong(body.substr(0, eq));
      spelled = absl::StrCat("--", body.substr(0, eq));
      if (eq != absl::string_view::npos) value = std::string(body.substr(eq + 1));
    } else {
      flag = FindShort(arg[1]);
      spelled = std::string(arg.substr(0, 2));
      if (arg.size() > 2) value = std::string(arg.substr(2));  // -XPOST, as curl
    }
    if (flag == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", spelled));
    if (!flag->takes_value && value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(spelled, " takes no value"));
    }
    if (flag->takes_value && !value.has_value()) {
      if (i + 1 == argv.size()) return absl::InvalidArgumentError(absl::StrCat(spelled, " needs a value"));
      value = argv[++i];
    }
    absl::Status applied = flag->apply(args, value.value_or(""));
    if (!applied.ok()) return applied;
    used.emplace_back(flag, spelled);
  }

  if (!positional.empty() && positional[0] == "help") args.help = true;
  if (args.help) return args;
  if (positional.empty()) return absl::InvalidArgumentError("missing command (fetch, stats or top)");
  args.command = positional[0];
  unsigned scope;
  if (args.command == "fetch") {
    scope = Scope::kFetch;
    if (positional.size() != 2) return absl::InvalidArgumentError("fetch takes exactly one URL");
    args.url = positional[1];
    if (args.data.has_value() && args.data_file.has_value()) {
      return absl::InvalidArgumentError("give -d or --data-file, not both");
    }
  } else if (args.command == "stats") {
    scope = Scope::kStats;
    if (positional.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat("stats takes no arguments, got '", positional[1], "'"));
    }
  } else if (args.command == "top") {
    scope = Scope::kTop;
    if (positional.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat("top takes no arguments, got '", positional[1], "'"));
    }
    if (args.once && args.iterations.has_value()) {
      return absl::InvalidArgumentError("give --once or --iterations, not both");
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown command '", args.command, "'"));
  }
  for (const auto& [flag, spelled] : used) {
    if (flag->scope != Scope::kGlobal && (flag->scope & scope) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(spelled, " does not apply to ", args.command));
    }
  }
  return args;
}

}  // namespace client
}  // namespace fetchpool
