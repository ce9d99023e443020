#include "client-sdk/cpp/ctl_args.h"

#include <algorithm>
#include <cstdint>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace fetchpool {
namespace client {
namespace {

// What CLI11's generated usage cannot say: top's columns, exit statuses,
// examples.
constexpr char kGlobalFlagsNote[] =
    R"(fetchpoolctl's own flags (--target, --timeout, -v) may come before or after
the command; a command's flags come after it. A flag's value may follow as the
next argument (--target localhost:50051) or after '=' (--target=...).
)";

constexpr char kTopNote[] = R"(
top: on a terminal, top redraws in place and fits the screen: long hosts are
shortened, then the least useful columns hidden (named in the header).
Otherwise, and with --once, it prints plain frames separated by a blank line,
the first one interval after it starts, so that every frame has rates. Ctrl-C
quits. Columns:
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
)";

constexpr char kExitAndExamples[] = R"(
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

// A check whose failure reads "--flag: 'VALUE' is not WHAT". The help shows
// the option's type_name, not the check.
CLI::Validator Check(bool (*ok)(absl::string_view), std::string what) {
  return CLI::Validator(
      [ok, what](std::string& value) -> std::string {
        return ok(value) ? "" : "'" + value + "' is not " + what;
      },
      "");
}

// absl's duration syntax (500ms, 10s, 1m30s), positive and finite.
absl::optional<absl::Duration> ParsePositiveDuration(absl::string_view text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return absl::nullopt;
  }
  return d;
}

bool IsPositiveDuration(absl::string_view text) { return ParsePositiveDuration(text).has_value(); }

bool IsCount(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
}

bool IsPositiveCount(absl::string_view text) {
  return IsCount(text) && text.find_first_not_of('0') != absl::string_view::npos;
}

// "Name: value", split at the first colon, both sides trimmed.
absl::optional<std::pair<std::string, std::string>> SplitHeader(absl::string_view text) {
  size_t colon = text.find(':');
  if (colon == absl::string_view::npos) return absl::nullopt;
  absl::string_view name = absl::StripAsciiWhitespace(text.substr(0, colon));
  if (name.empty()) return absl::nullopt;
  return std::make_pair(std::string(name), std::string(absl::StripAsciiWhitespace(text.substr(colon + 1))));
}

bool IsHeader(absl::string_view text) { return SplitHeader(text).has_value(); }

// The flag strings that need converting once CLI11 has checked them.
struct RawFlags {
  std::string timeout = "10s";
  std::string interval = "1s";
  std::string sort = "waiters";
  std::vector<std::string> headers;
  std::string data;
  std::string data_file;
  int64_t iterations = 0;
};

void AddGlobalFlags(CLI::App& app, CtlArgs& args, RawFlags& raw) {
  app.add_option("--target", args.target, "fetchpool server: HOST:PORT or any gRPC target")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  app.add_option("--timeout", raw.timeout, "gRPC deadline of each call; top's watch has none")
      ->check(Check(IsPositiveDuration, "a positive duration like 10s"))
      ->type_name("DURATION")
      ->capture_default_str();
  app.add_flag("-v,--verbose", args.verbose,
               "fetch: one timing line on stderr (queue wait, dns, connect, tls, first byte, "
               "total, reused, pool)");
}

CLI::App* AddFetch(CLI::App& app, CtlArgs& args, RawFlags& raw) {
  CLI::App* fetch =
      app.add_subcommand("fetch", "make one HTTP request through fetchpool; the body goes to stdout");
  fetch->add_option("url", args.url, "the URL to fetch")->required();
  fetch->add_option("-X,--request", args.method, "HTTP method (default GET, or POST with a body)")
      ->type_name("METHOD");
  // One value per -H, so that a URL after it stays the URL.
  fetch->add_option("-H,--header", raw.headers, "request header; repeat for more")
      ->allow_extra_args(false)
      ->check(Check(IsHeader, "'Name: value'"))
      ->type_name("'NAME: VALUE'");
  CLI::Option* data = fetch->add_option("-d,--data", raw.data, "request body")->type_name("BODY");
  CLI::Option* data_file =
      fetch->add_option("--data-file", raw.data_file, "request body read from FILE")->type_name("FILE");
  data->excludes(data_file);
  fetch->add_flag("-i,--include", args.include, "print the status line and headers before the body");
  fetch->add_option("--max-response-bytes", args.max_response_bytes,
                    "refuse bodies over N bytes (default: the server's limit)")
      ->check(Check(IsCount, "a byte count"))
      ->type_name("N");
  fetch->add_flag("-L,--follow", args.follow, "follow redirects");
  fetch->footer(kGlobalFlagsNote);
  return fetch;
}

CLI::App* AddStats(CLI::App& app, CtlArgs& args) {
  CLI::App* stats = app.add_subcommand("stats", "show the per-host connection pools");
  stats->add_option("--host", args.host, "one pool only, as scheme://host:port")->type_name("KEY");
  stats->add_flag("--json", args.json, "the StatsResponse as one line of JSON, zeros included");
  stats->footer(kGlobalFlagsNote);
  return stats;
}

CLI::App* AddTop(CLI::App& app, CtlArgs& args, RawFlags& raw) {
  CLI::App* top =
      app.add_subcommand("top", "live view of the pools, like top, refreshed every --interval");
  top->add_option("--host", args.host, "one pool only, as scheme://host:port")->type_name("KEY");
  // The server holds the range (100ms to 1m) and says so when refused.
  top->add_option("--interval", raw.interval, "time between snapshots, 100ms to 1m")
      ->check(Check(IsPositiveDuration, "a positive duration like 1s"))
      ->type_name("DURATION")
      ->capture_default_str();
  top->add_option("--sort", raw.sort,
                  "waiters: most waiters, then busiest; busy; reqs (REQ/S); tw (TIME_WAIT estimate)")
      ->check(CLI::IsMember({"waiters", "busy", "reqs", "tw"}))
      ->type_name("ORDER")
      ->capture_default_str();
  CLI::Option* iterations =
      top->add_option("--iterations", raw.iterations,
                      "exit after N frames (default: on Ctrl-C when stdout is a terminal, after 1 "
                      "frame otherwise)")
          ->check(Check(IsPositiveCount, "a count of frames (1 or more)"))
          ->type_name("N");
  top->add_flag("--once", args.once, "print one frame and exit, even on a terminal")->excludes(iterations);
  top->footer(std::string(kGlobalFlagsNote) + kTopNote);
  return top;
}

}  // namespace

absl::StatusOr<CtlArgs> ParseCtlArgs(const std::vector<std::string>& argv) {
  CtlArgs args;
  RawFlags raw;
  CLI::App app("Talks to a fetchpool server.", "fetchpoolctl");
  app.footer(std::string(kGlobalFlagsNote) + kTopNote + kExitAndExamples);
  app.fallthrough();  // inherited by the commands: the global flags may follow them
  app.require_subcommand(1);
  AddGlobalFlags(app, args, raw);
  CLI::App* fetch = AddFetch(app, args, raw);
  CLI::App* stats = AddStats(app, args);
  CLI::App* top = AddTop(app, args, raw);
  CLI::App* help = app.add_subcommand("help", "this text, or one command's usage");
  std::string help_topic;
  help->add_option("command", help_topic, "fetch, stats or top")->check(CLI::IsMember({"fetch", "stats", "top"}));

  std::vector<std::string> reversed(argv.rbegin(), argv.rend());  // CLI11 pops from the back
  // The whole usage, every command expanded (app.help() would show only the
  // selected command's, and "help" is one).
  auto everything = [&app] { return app.get_formatter()->make_help(&app, "fetchpoolctl", CLI::AppFormatMode::All); };
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    args.help = true;
    // --help after a command: that command's usage; alone: everything.
    args.help_text = app.get_subcommands().empty() || help->parsed() ? everything() : app.help();
    return args;
  } catch (const CLI::RequiredError& e) {
    // CLI11 checks for the missing command before it complains of extras.
    if (app.get_subcommands().empty()) {
      return absl::InvalidArgumentError(
          (app.remaining().empty() ? std::string("missing command")
                                   : "unknown command '" + app.remaining().front() + "'") +
          " (fetch, stats, top or help)");
    }
    return absl::InvalidArgumentError(e.what());
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (help->parsed()) {
    args.help = true;
    args.help_text = help_topic.empty() ? everything() : app.get_subcommand(help_topic)->help("fetchpoolctl");
    return args;
  }

  args.timeout = *ParsePositiveDuration(raw.timeout);
  if (fetch->parsed()) {
    args.command = "fetch";
    for (const std::string& header : raw.headers) args.headers.push_back(*SplitHeader(header));
    if (fetch->count("--data") > 0) args.data = raw.data;
    if (fetch->count("--data-file") > 0) args.data_file = raw.data_file;
  } else if (stats->parsed()) {
    args.command = "stats";
  } else if (top->parsed()) {
    args.command = "top";
    args.interval = *ParsePositiveDuration(raw.interval);
    args.sort = *ParseTopSort(raw.sort);
    if (top->count("--iterations") > 0) args.iterations = raw.iterations;
  }
  return args;
}

}  // namespace client
}  // namespace fetchpool
