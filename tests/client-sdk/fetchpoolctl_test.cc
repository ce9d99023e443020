// fetchpoolctl: argument parsing, request building, output, and whole runs
// against the fake server.
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "client-sdk/cpp/client_status.h"
#include "client-sdk/cpp/ctl_args.h"
#include "client-sdk/cpp/ctl_commands.h"
#include "client-sdk/cpp/ctl_output.h"
#include "client-sdk/cpp/stats_table.h"
#include "tests/client-sdk/fake_fetchpool.h"

namespace fetchpool {
namespace client {
namespace {

using ::testing::HasSubstr;
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
  auto args = ParseCtlArgs({"--json", "stats", "--host=http://a:80"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->command, "stats");
  EXPECT_TRUE(args->json);
  EXPECT_EQ(args->host, "http://a:80");
}

TEST(CtlArgsTest, Help) {
  for (auto argv : std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"help"}, {"fetch", "--help"}}) {
    auto args = ParseCtlArgs(argv);
    ASSERT_TRUE(args.ok()) << args.status();
    EXPECT_TRUE(args->help);
  }
}

TEST(CtlArgsTest, Mistakes) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "missing command"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"fetch"}, "exactly one URL"},
      {{"fetch", "http://a/", "http://b/"}, "exactly one URL"},
      {{"stats", "extra"}, "stats takes no arguments"},
      {{"fetch", "http://a/", "--bogus"}, "unknown flag --bogus"},
      {{"fetch", "http://a/", "-H"}, "-H needs a value"},
      {{"fetch", "http://a/", "-H", "no colon"}, "is not 'Name: value'"},
      {{"fetch", "http://a/", "--include=yes"}, "--include takes no value"},
      {{"fetch", "http://a/", "--timeout=soon"}, "not a positive duration"},
      {{"fetch", "http://a/", "--max-response-bytes=-1"}, "not a byte count"},
      {{"fetch", "http://a/", "-d", "x", "--data-file", "f"}, "not both"},
      {{"stats", "--include"}, "--include does not apply to stats"},
      {{"--json", "fetch", "http://a/"}, "--json does not apply to fetch"},
  };
  for (const auto& [argv, message] : cases) {
    auto args = ParseCtlArgs(argv);
    ASSERT_FALSE(args.ok()) << "accepted: " << ::testing::PrintToString(argv);
    EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(args.status().message()), HasSubstr(message));
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
  int Run(std::vector<std::string> argv) {
    argv.push_back("--target=" + server_.target());
    argv.push_back("--timeout=5s");
    out_.str("");
    err_.str("");
    return RunCtl(argv, out_, err_);
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
  EXPECT_THAT(err_.str(), StartsWith("error: fetch takes exactly one URL\n"));
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
  EXPECT_THAT(out_.str(), StartsWith("usage: fetchpoolctl"));
}

}  // namespace
}  // namespace client
}  // namespace fetchpool
