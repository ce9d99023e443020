// fetchpoolctl: argument parsing, request building, output, and whole runs
// against the fake server.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "client-sdk/cpp/client_status.h"
#include "client-sdk/cpp/ctl_args.h"
#include "client-sdk/cpp/ctl_commands.h"
#include "client-sdk/cpp/ctl_output.h"
#include "client-sdk/cpp/ctl_terminal.h"
#include "client-sdk/cpp/ctl_top.h"
#include "client-sdk/cpp/stats_table.h"
#include "client-sdk/cpp/top_view.h"
#include "tests/client-sdk/fake_fetchpool.h"

namespace fetchpool {
namespace client {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(CtlArgsTest, FlagsBeforeOrAfterTheCommand) {
  auto before = ParseCtlArgs({"--target=h:1", "--timeout", "3s", "fetch", "-X", "PUT", "http://a/"});
  auto after = ParseCtlArgs({"fetch", "http://a/", "--target", "h:1", "-XPUT", "--timeout=3s"});
  for (const auto* args : {&before, &after}) {
    ASSERT_TRUE(args->ok()) << args->status();
    EXPECT_EQ((*args)->command, "fetch");
    EXPECT_EQ((*args)->url, "http://a/");
    EXPECT_EQ((*args)->target, "h:1");
    EXPECT_EQ((*args)->timeout, absl::Seconds(3));
    EXPECT_EQ((*args)->method, "PUT");
  }
}

TEST(CtlArgsTest, FetchFlags) {
  auto args = ParseCtlArgs({"fetch", "http://a/", "-H", "Accept: text/plain", "--header=X-A:b", "-d", "-x-",
                            "-i", "--max-response-bytes", "1024", "-L", "-v"});
  ASSERT_TRUE(args.ok()) << args.status();
  ASSERT_EQ(args->headers.size(), 2u);
  EXPECT_EQ(args->headers[0], std::make_pair(std::string("Accept"), std::string("text/plain")));
  EXPECT_EQ(args->headers[1], std::make_pair(std::string("X-A"), std::string("b")));
  EXPECT_EQ(args->data, "-x-");  // a flag's value may start with '-'
  EXPECT_TRUE(args->include);
  EXPECT_EQ(args->max_response_bytes, 1024u);
  EXPECT_TRUE(args->follow);
  EXPECT_TRUE(args->verbose);
}

TEST(CtlArgsTest, StatsFlags) {
  auto args = ParseCtlArgs({"stats", "--json", "--host=http://a:80"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->command, "stats");
  EXPECT_TRUE(args->json);
  EXPECT_EQ(args->host, "http://a:80");
}

TEST(CtlArgsTest, TopFlags) {
  auto args = ParseCtlArgs({"top", "--host=http://a:80", "--interval", "250ms", "--sort=tw", "--iterations=3"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->command, "top");
  EXPECT_EQ(args->host, "http://a:80");
  EXPECT_EQ(args->interval, absl::Milliseconds(250));
  EXPECT_EQ(args->sort, TopSort::kTimeWait);
  EXPECT_EQ(args->iterations, 3);
  EXPECT_FALSE(args->once);

  auto defaults = ParseCtlArgs({"top"});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->interval, absl::Seconds(1));
  EXPECT_EQ(defaults->sort, TopSort::kWaiters);
  EXPECT_EQ(defaults->iterations, absl::nullopt);
  EXPECT_EQ(defaults->timeout, absl::Seconds(10));
  EXPECT_EQ(defaults->target, "localhost:50051");

  auto once = ParseCtlArgs({"top", "--once", "--sort", "busy"});
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_TRUE(once->once);
  EXPECT_EQ(once->sort, TopSort::kBusy);
}

TEST(CtlArgsTest, ShortFlagsCombine) {
  auto args = ParseCtlArgs({"fetch", "-iLv", "http://a/"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_TRUE(args->include);
  EXPECT_TRUE(args->follow);
  EXPECT_TRUE(args->verbose);
  EXPECT_EQ(args->url, "http://a/");
}

TEST(CtlArgsTest, Help) {
  for (auto argv : std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"help"}, {"fetch", "--help"}}) {
    auto args = ParseCtlArgs(argv);
    ASSERT_TRUE(args.ok()) << args.status();
    EXPECT_TRUE(args->help);
    EXPECT_THAT(args->help_text, HasSubstr("Usage: fetchpoolctl"));
  }
  // A command's help is about that command.
  auto fetch = ParseCtlArgs({"fetch", "-h"});
  ASSERT_TRUE(fetch.ok()) << fetch.status();
  EXPECT_THAT(fetch->help_text, HasSubstr("--max-response-bytes"));
  EXPECT_THAT(fetch->help_text, Not(HasSubstr("--sort")));
  auto help_top = ParseCtlArgs({"help", "top"});
  ASSERT_TRUE(help_top.ok()) << help_top.status();
  EXPECT_THAT(help_top->help_text, HasSubstr("Usage: fetchpoolctl top"));
  EXPECT_THAT(help_top->help_text, HasSubstr("QWAIT99 FETCH99"));
}

// The messages are CLI11's; the cases pin that each mistake is refused and
// that the message names what was wrong.
TEST(CtlArgsTest, Mistakes) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "missing command (fetch, stats, top or help)"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"fetch"}, "url is required"},
      {{"fetch", "http://a/", "http://b/"}, "not expected: http://b/"},
      {{"stats", "extra"}, "not expected: extra"},
      {{"fetch", "http://a/", "--bogus"}, "not expected: --bogus"},
      {{"fetch", "http://a/", "-H"}, "--header"},
      {{"fetch", "http://a/", "-H", "no colon"}, "'no colon' is not 'Name: value'"},
      {{"fetch", "http://a/", "--timeout=soon"}, "--timeout: 'soon' is not a positive duration"},
      {{"fetch", "http://a/", "--max-response-bytes=-1"}, "--max-response-bytes: '-1' is not a byte count"},
      {{"fetch", "http://a/", "-d", "x", "--data-file", "f"}, "--data excludes --data-file"},
      {{"stats", "--include"}, "not expected: --include"},
      {{"--json", "fetch", "http://a/"}, "--json"},
      {{"top", "now"}, "not expected: now"},
      {{"top", "--sort=name"}, "--sort: name not in {waiters,busy,reqs,tw}"},
      {{"top", "--interval=0s"}, "'0s' is not a positive duration"},
      {{"top", "--interval=fast"}, "'fast' is not a positive duration"},
      {{"top", "--iterations=0"}, "--iterations: '0' is not a count of frames"},
      {{"top", "--once", "--iterations=2"}, "excludes"},
      {{"top", "--json"}, "not expected: --json"},
      {{"stats", "--sort=busy"}, "not expected: --sort"},
      {{"fetch", "http://a/", "--host=http://a:80"}, "not expected: --host"},
      {{"stats", "top"}, "not expected: top"},
      {{"help", "bogus"}, "bogus not in {fetch,stats,top}"},
  };
  for (const auto& [argv, message] : cases) {
    auto args = ParseCtlArgs(argv);
    ASSERT_FALSE(args.ok()) << "accepted: " << ::testing::PrintToString(argv);
    EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(args.status().message()), HasSubstr(message)) << ::testing::PrintToString(argv);
  }
}

TEST(BuildFetchRequestTest, BodyMeansPostUnlessMethodGiven) {
  auto get = BuildFetchRequest(*ParseCtlArgs({"fetch", "http://a/"}));
  auto post = BuildFetchRequest(*ParseCtlArgs({"fetch", "http://a/", "-d", "x"}));
  auto put = BuildFetchRequest(*ParseCtlArgs({"fetch", "http://a/", "-d", "x", "-X", "PUT"}));
  EXPECT_EQ(get->method(), "GET");
  EXPECT_EQ(post->method(), "POST");
  EXPECT_EQ(put->method(), "PUT");
}

TEST(BuildFetchRequestTest, DataFileIsReadAsBytes) {
  std::string path = ::testing::TempDir() + "fetchpoolctl_body.bin";
  std::string bytes("a\0b\r\n", 5);
  std::ofstream(path, std::ios::binary) << bytes;
  auto request = BuildFetchRequest(*ParseCtlArgs({"fetch", "http://a/", "--data-file", path}));
  std::remove(path.c_str());
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->body(), bytes);

  auto missing = BuildFetchRequest(*ParseCtlArgs({"fetch", "http://a/", "--data-file", path}));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("cannot open --data-file"));
}

TEST(CtlOutputTest, RpcErrorDoesNotRepeatTheReason) {
  absl::Status with_reason = absl::UnavailableError("CONNECT_REFUSED: connect refused");
  with_reason.SetPayload(kReasonPayloadUrl, absl::Cord("CONNECT_REFUSED"));
  EXPECT_EQ(FormatRpcError(with_reason), "error: UNAVAILABLE CONNECT_REFUSED: connect refused");

  absl::Status unprefixed = absl::UnavailableError("connect refused");
  unprefixed.SetPayload(kReasonPayloadUrl, absl::Cord("CONNECT_REFUSED"));
  EXPECT_EQ(FormatRpcError(unprefixed), "error: UNAVAILABLE CONNECT_REFUSED: connect refused");

  EXPECT_EQ(FormatRpcError(absl::DeadlineExceededError("Deadline Exceeded")),
            "error: DEADLINE_EXCEEDED: Deadline Exceeded");
}

// Runs fetchpoolctl against the fake and keeps what it printed.
class CtlRunTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> argv, const CtlEnvironment& env = CtlEnvironment()) {
    argv.push_back("--target=" + server_.target());
    argv.push_back("--timeout=5s");
    out_.str("");
    err_.str("");
    return RunCtl(argv, out_, err_, env);
  }

  testing::FakeFetchPoolServer server_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(CtlRunTest, FetchPrintsTheBody) {
  EXPECT_EQ(Run({"fetch", testing::kOkUrl}), kExitOk);
  EXPECT_EQ(out_.str(), testing::kOkBody);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(CtlRunTest, FetchIncludeAndVerbose) {
  EXPECT_EQ(Run({"fetch", testing::kOkUrl, "--include", "--verbose"}), kExitOk);
  EXPECT_EQ(out_.str(), absl::StrCat("HTTP/1.1 200\r\nContent-Type: text/plain\r\nX-Fake: 1\r\n\r\n", testing::kOkBody));
  EXPECT_EQ(err_.str(),
            "queue_wait=200us dns=1.2ms connect=300us tls=0 first_byte=4ms total=6ms reused=true "
            "pool=http://origin.test:80\n");
}

TEST_F(CtlRunTest, FetchSendsWhatWasAskedFor) {
  EXPECT_EQ(Run({"fetch", testing::kEchoUrl, "-H", "X-Trace: 7", "-d", "payload", "-L",
                 "--max-response-bytes=99"}),
            kExitOk);
  EXPECT_EQ(out_.str(), "payload");
  auto sent = server_.service().last_request();
  EXPECT_EQ(sent.method(), "POST");
  EXPECT_TRUE(sent.follow_redirects());
  EXPECT_EQ(sent.max_response_bytes(), 99u);
  ASSERT_EQ(sent.headers_size(), 1);
  EXPECT_EQ(sent.headers(0).value(), "7");
}

TEST_F(CtlRunTest, HttpErrorStatusExitsZero) {
  EXPECT_EQ(Run({"fetch", testing::kNotFoundUrl}), kExitOk);
  EXPECT_EQ(out_.str(), "not found\n");
}

TEST_F(CtlRunTest, RpcErrorExitsOneWithReason) {
  EXPECT_EQ(Run({"fetch", testing::kRefusedUrl}), kExitRpcError);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "error: UNAVAILABLE CONNECT_REFUSED: connect to http://origin.test:81 refused\n");
}

TEST_F(CtlRunTest, UsageErrorExitsTwo) {
  EXPECT_EQ(Run({"fetch"}), kExitUsage);
  EXPECT_THAT(err_.str(), StartsWith("error: url is required\nrun 'fetchpoolctl --help' for usage\n"));
}

TEST_F(CtlRunTest, StatsTable) {
  EXPECT_EQ(Run({"stats"}), kExitOk);
  EXPECT_EQ(out_.str(), FormatStatsTable(testing::CannedStats()));
}

TEST_F(CtlRunTest, StatsOneHostAsJson) {
  EXPECT_EQ(Run({"stats", "--host=http://new.internal:80", "--json"}), kExitOk);
  // Zero counters are printed, not dropped.
  EXPECT_THAT(out_.str(), HasSubstr("\"host\":\"http://new.internal:80\""));
  EXPECT_THAT(out_.str(), HasSubstr("\"requestsTotal\":\"0\""));
  EXPECT_THAT(out_.str(), HasSubstr("\"poolCount\":1"));
}

TEST_F(CtlRunTest, HelpGoesToStdout) {
  EXPECT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out_.str(), StartsWith("Talks to a fetchpool server."));
  EXPECT_THAT(out_.str(), HasSubstr("Usage: fetchpoolctl"));
}

TEST_F(CtlRunTest, HelpDescribesTop) {
  EXPECT_EQ(Run({"help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("live view of the pools"));
  EXPECT_THAT(out_.str(), HasSubstr("--sort ORDER"));
  EXPECT_THAT(out_.str(), HasSubstr("QWAIT99 FETCH99"));
}

// top, fed by the fake's WatchStats. The environment's clock moves one
// second per snapshot, so the frames' rates are exact.
constexpr int64_t kStartUnixSeconds = 1700000000;  // 22:13:20 UTC

CtlEnvironment SteppingClock(CtlEnvironment env = CtlEnvironment()) {
  auto next = std::make_shared<absl::Time>(absl::FromUnixSeconds(kStartUnixSeconds));
  env.clock = [next] {
    absl::Time now = *next;
    *next += absl::Seconds(1);
    return now;
  };
  env.time_zone = absl::UTCTimeZone();
  return env;
}

CtlEnvironment Terminal(int columns, int rows) {
  CtlEnvironment env;
  env.out_is_terminal = true;
  env.terminal_size = [columns, rows] { return TerminalSize{columns, rows}; };
  return SteppingClock(env);
}

// The frame for the fake's snapshot `index` as top draws it at
// kStartUnixSeconds + index, after snapshot index - 1 (none for 0).
std::string ExpectedFrame(int index, int width = 0, int height = 0, const std::string& host = "",
                          TopSort sort = TopSort::kWaiters) {
  TopFrameOptions options;
  options.sort = sort;
  options.time = absl::FromUnixSeconds(kStartUnixSeconds + index);
  options.height = height;
  const fetchpool::v1::StatsResponse cur = testing::CannedWatchSnapshot(index, host);
  if (index == 0) return RenderTopFrame(nullptr, cur, absl::ZeroDuration(), width, options);
  const fetchpool::v1::StatsResponse prev = testing::CannedWatchSnapshot(index - 1, host);
  return RenderTopFrame(&prev, cur, absl::Seconds(1), width, options);
}

bool ServerSawWatchCancelled(testing::FakeFetchPoolServer& server) {
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (server.service().cancelled_watches() == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  return server.service().cancelled_watches() > 0;
}

TEST_F(CtlRunTest, TopPrintsFramesFromTheWatch) {
  EXPECT_EQ(Run({"top", "--iterations=3", "--interval=100ms"}, SteppingClock()), kExitOk);
  EXPECT_EQ(err_.str(), "");
  // Snapshot 0 is the baseline; each frame has rates over one second.
  EXPECT_EQ(out_.str(), absl::StrCat(ExpectedFrame(1), "\n", ExpectedFrame(2), "\n", ExpectedFrame(3)));
  // What that is, for a reader of this test:
  std::vector<std::string> frames = absl::StrSplit(out_.str(), "\n\n", absl::SkipEmpty());
  ASSERT_EQ(frames.size(), 6u);  // each frame: header, then the table
  EXPECT_THAT(frames[0], StartsWith("fetchpool 22:13:21  pools 6  busy 19  idle 12  conn 1  waiting 34  oldest 2.2s\n"
                                    "req/s 1625  reuse 99.1%  open/s 4.0  TIME_WAIT est 44 kernel 46\n"));
  EXPECT_THAT(frames[1], StartsWith("HOST "));
  std::vector<std::string> rows = absl::StrSplit(frames[1], '\n', absl::SkipEmpty());
  EXPECT_EQ(rows.size(), 7u);
  EXPECT_THAT(rows[1], StartsWith("http://api.internal:80 "));      // 28 waiting
  EXPECT_THAT(rows[2], StartsWith("http://slow.internal:8080 "));   // 6 waiting
  EXPECT_THAT(frames[4], StartsWith("fetchpool 22:13:23  pools 6  busy 16  idle 15"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("\x1b[")));

  // The watch asked for what was given, and was cancelled after 4 snapshots.
  EXPECT_EQ(server_.service().last_watch_request().interval().nanos(), 100000000);
  EXPECT_TRUE(ServerSawWatchCancelled(server_));
  EXPECT_EQ(server_.service().watch_snapshots_sent(), 4);
}

TEST_F(CtlRunTest, TopOncePrintsOneFrameFittedToTheTerminal) {
  EXPECT_EQ(Run({"top", "--once", "--interval=100ms"}, Terminal(80, 24)), kExitOk);
  EXPECT_EQ(out_.str(), ExpectedFrame(1, 80));  // plain, but as wide as the terminal
  for (absl::string_view line : absl::StrSplit(out_.str(), '\n')) EXPECT_LE(line.size(), 80u) << line;
  EXPECT_THAT(out_.str(), HasSubstr("hidden (too narrow): OPEN/S TWK FETCH99"));
}

TEST_F(CtlRunTest, TopRedrawsInPlaceOnATerminal) {
  EXPECT_EQ(Run({"top", "--iterations=2", "--interval=100ms", "--sort=busy"}, Terminal(100, 11)), kExitOk);
  EXPECT_EQ(err_.str(), "");
  const std::string& out = out_.str();
  EXPECT_THAT(out, StartsWith(absl::StrCat(kHideCursor, kClearScreen, "fetchpool 22:13:20  pools 6  ")));
  EXPECT_THAT(out, EndsWith(absl::StrCat(kEraseBelow, kShowCursor)));
  // The first frame comes at once, without rates; the second is drawn over it.
  std::vector<std::string> frames = absl::StrSplit(out, kCursorHome);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_THAT(frames[1], HasSubstr("req/s -  reuse -"));
  EXPECT_THAT(frames[2], HasSubstr("req/s 1625  reuse 99.1%"));
  // 10 lines of an 11-line screen, each cleared to its end, rows by busy.
  std::vector<std::string> lines = absl::StrSplit(frames[2], absl::StrCat(kEraseLineEnd, "\n"));
  ASSERT_EQ(lines.size(), 11u);
  EXPECT_EQ(lines.back(), absl::StrCat(kEraseBelow, kShowCursor));
  EXPECT_THAT(lines[5], StartsWith("api.internal:80 "));       // 8 busy
  EXPECT_THAT(lines[6], StartsWith("search.sv..ocal:9200 "));  // 6 busy
  EXPECT_EQ(lines[9], "... 2 more pools (sorted by busy)");
  const std::string expected = ExpectedFrame(1, 100, 10, "", TopSort::kBusy);
  EXPECT_EQ(frames[2], absl::StrCat(absl::StrReplaceAll(expected, {{"\n", absl::StrCat(kEraseLineEnd, "\n")}}),
                                    kEraseBelow, kShowCursor));
}

TEST_F(CtlRunTest, TopOfOneHost) {
  EXPECT_EQ(Run({"top", "--host=http://slow.internal:8080", "--interval=100ms"}, SteppingClock()), kExitOk);
  EXPECT_EQ(server_.service().last_watch_request().host(), "http://slow.internal:8080");
  EXPECT_EQ(out_.str(), ExpectedFrame(1, 0, 0, "http://slow.internal:8080"));
  EXPECT_THAT(out_.str(), HasSubstr("pools 1 of 6"));
}

TEST_F(CtlRunTest, TopIntervalRefusedByTheServer) {
  EXPECT_EQ(Run({"top", "--interval=50ms"}), kExitRpcError);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "error: INVALID_ARGUMENT INVALID_OPTION: interval is 50ms; it must be between 100ms and 1m\n");
}

TEST_F(CtlRunTest, TopWhenTheServerEndsTheWatch) {
  server_.service().EndWatchesAfter(3);
  EXPECT_EQ(Run({"top", "--iterations=5", "--interval=100ms"}, SteppingClock()), kExitRpcError);
  EXPECT_EQ(out_.str(), absl::StrCat(ExpectedFrame(1), "\n", ExpectedFrame(2)));  // what it had
  EXPECT_EQ(err_.str(), "error: fetchpool ended the watch\n");
}

TEST_F(CtlRunTest, TopWithoutAServer) {
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunCtl({"top", "--target=127.0.0.1:1"}, out, err), kExitRpcError);
  EXPECT_EQ(out.str(), "");
  EXPECT_THAT(err.str(), StartsWith("error: UNAVAILABLE: "));
}

// Ctrl-C on a terminal: the watch is cancelled, the cursor comes back, the
// exit status is 0, and SIGINT's previous action is restored.
TEST_F(CtlRunTest, TopQuitsCleanlyOnSigint) {
  struct sigaction before {};
  ASSERT_EQ(sigaction(SIGINT, nullptr, &before), 0);
  CtlEnvironment env = Terminal(120, 40);
  env.handle_interrupts = true;
  std::promise<int> exit_status;
  std::future<int> result = exit_status.get_future();
  std::thread top([&] { exit_status.set_value(Run({"top", "--interval=100ms"}, env)); });

  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (server_.service().watch_snapshots_sent() < 2 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_GE(server_.service().watch_snapshots_sent(), 2);
  ASSERT_EQ(kill(getpid(), SIGINT), 0);
  if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    // It would run until the fake server goes, and write into a test gone by then.
    ADD_FAILURE() << "top did not quit on SIGINT";
    std::abort();
  }
  top.join();
  EXPECT_EQ(result.get(), kExitOk);
  EXPECT_EQ(err_.str(), "");
  EXPECT_THAT(out_.str(), StartsWith(absl::StrCat(kHideCursor, kClearScreen)));
  EXPECT_THAT(out_.str(), EndsWith(absl::StrCat(kEraseBelow, kShowCursor)));
  EXPECT_TRUE(ServerSawWatchCancelled(server_));
  struct sigaction after {};
  ASSERT_EQ(sigaction(SIGINT, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
}

}  // namespace
}  // namespace client
}  // namespace fetchpool
