// Issue 14: GOAWAY with streams in flight, against a scripted h2c origin
// (tests/integration/h2_script_origin, Go on golang.org/x/net/http2's
// Framer) behind a live in-process fetchpoold. nginx's keepalive_requests
// (Http2OriginTest.GoAwayReplaysTheRefusedStreamsAndNoPostTwice) sends
// GOAWAY between requests; this origin sends it while K requests are open
// on the connection, so some are at or below its last-stream-id (they must
// be answered, never sent twice) and some above it (never processed: they
// must be sent again and succeed).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/server_config.h"
#include "tests/integration/service_fixture.h"

extern char** environ;

namespace fetchpool::testing {
namespace {

// One line of the origin's log: a request it processed, or a GOAWAY it sent.
struct OriginEvent {
  std::string kind;  // "request" or "goaway"
  std::map<std::string, std::string> fields;
  uint32_t Number(const std::string& name) const {
    uint32_t n = 0;
    auto it = fields.find(name);
    return it != fields.end() && absl::SimpleAtoi(it->second, &n) ? n : 0;
  }
};

// The scripted origin as a child process (posix_spawn: this process runs
// gRPC's threads, so no fork without exec).
class ScriptOrigin {
 public:
  ~ScriptOrigin() { Stop(); }

  // Starts `scenario` with k requests to wait for; false (and a message)
  // if it did not print its port.
  bool Start(const std::string& scenario, int k, std::string* error) {
    char dir[] = "/tmp/h2_goaway_XXXXXX";
    if (mkdtemp(dir) == nullptr) return Fail("mkdtemp", error);
    dir_ = dir;
    log_path_ = dir_ + "/origin.log";
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return Fail("pipe", error);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    const std::string k_flag = absl::StrCat("-k=", k);
    const std::string log_flag = "-log=" + log_path_;
    const std::string scenario_flag = "-scenario=" + scenario;
    char* argv[] = {const_cast<char*>(FETCHPOOL_H2_SCRIPT_ORIGIN),
                    const_cast<char*>(scenario_flag.c_str()), const_cast<char*>(k_flag.c_str()),
                    const_cast<char*>(log_flag.c_str()), nullptr};
    const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (spawned != 0) {
      close(out[0]);
      pid_ = -1;
      return Fail(absl::StrCat("posix_spawn ", argv[0], ": ", strerror(spawned)), error);
    }
    // The first line is the port.
    std::string line;
    pollfd pfd{out[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos && poll(&pfd, 1, 10000) == 1) {
      char buf[64];
      const ssize_t n = read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      line.append(buf, n);
    }
    close(out[0]);
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &port_)) {
      return Fail("the origin printed no port: \"" + line + "\"", error);
    }
    return true;
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);  // the child we spawned
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::remove(log_path_.c_str());
      rmdir(dir_.c_str());
      dir_.clear();
    }
  }

  std::string PoolKey() const { return absl::StrCat("http://127.0.0.1:", port_); }

  std::vector<OriginEvent> Log() const {
    std::vector<OriginEvent> events;
    std::ifstream in(log_path_);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (words.empty()) continue;
      OriginEvent event{words[0], {}};
      for (size_t i = 1; i < words.size(); ++i) {
        std::pair<std::string, std::string> kv = absl::StrSplit(words[i], absl::MaxSplits('=', 1));
        event.fields[kv.first] = kv.second;
      }
      events.push_back(std::move(event));
    }
    return events;
  }

 private:
  static bool Fail(const std::string& what, std::string* error) {
    *error = what;
    return false;
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
  std::string log_path_;
};

class Http2GoAwayTest : public ServiceTest {
 protected:
  static constexpr int kFetches = 8;  // all in flight on the first connection
  static constexpr int kLastNth = 3;  // the origin's default -last

  void SetUp() override {}  // no HTTP/1.1 TestOrigin: the scripted one, per test

  void TearDown() override {
    ServiceTest::TearDown();
    origin_h2_.Stop();
  }

  // Starts the origin and a fetchpoold speaking h2c to it.
  void Start(const std::string& scenario) {
    std::string error;
    ASSERT_TRUE(origin_h2_.Start(scenario, kFetches, &error)) << error;
    ServerConfig config = LoopbackConfig();
    HostConfig h2c = config.engine.defaults;
    h2c.fetch.http_version = HttpVersion::kH2c;
    config.engine.per_host[origin_h2_.PoolKey()] = h2c;
    StartServer(config);
  }

  // Fetch i: odd ones POST a body, even ones GET; each names itself in
  // x-request-id, which the origin logs and echoes.
  static std::string Id(int i) { return absl::StrCat("f", i); }
  static bool IsPost(int i) { return i % 2 == 1; }
  static std::string Body(int i) { return IsPost(i) ? absl::StrCat("body of ", Id(i)) : ""; }

  std::vector<CallResult> FetchAllAtOnce() {
    std::vector<CallResult> results(kFetches);
    std::vector<std::thread> callers;
    for (int i = 0; i < kFetches; ++i) {
      callers.emplace_back([this, i, &results] {
        v1::FetchRequest request;
        request.set_url(origin_h2_.PoolKey() + "/" + Id(i));
        v1::Header* id = request.add_headers();
        id->set_name("x-request-id");
        id->set_value(Id(i));
        if (IsPost(i)) {
          request.set_method("POST");
          request.set_body(Body(i));
        }
        results[i] = Fetch(request, absl::Seconds(20));
      });
    }
    for (std::thread& t : callers) t.join();
    return results;
  }

  static void ExpectAllAnswered(const std::vector<CallResult>& results) {
    for (int i = 0; i < kFetches; ++i) {
      const CallResult& r = results[i];
      EXPECT_TRUE(r.status.ok()) << Id(i) << ": " << r.reason << " " << r.status.error_message();
      EXPECT_EQ(r.response.status(), 200) << Id(i);
      EXPECT_EQ(r.response.body(),
                absl::StrCat(IsPost(i) ? "POST " : "GET ", Id(i), " ", Body(i)));
    }
  }

  // The origin's log, checked: each fetch processed exactly once; on the
  // first connection exactly the streams at or below the (last) GOAWAY's
  // last-stream-id, which are the first kLastNth streams; the others on
  // the second connection. Returns the first connection's last-stream-id.
  uint32_t ExpectEachProcessedOnce() {
    std::vector<OriginEvent> log = origin_h2_.Log();
    uint32_t last = 0;
    int goaways = 0;
    std::map<std::string, int> processed;
    std::map<uint32_t, int> on_conn;
    int posts_at_or_below = 0;
    for (const OriginEvent& e : log) {
      if (e.kind == "goaway" && e.Number("conn") == 1) {
        ++goaways;
        last = e.Number("last_stream");  // the final one counts
        EXPECT_EQ(e.Number("streams"), static_cast<uint32_t>(kFetches))
            << "GOAWAY went out before every fetch was in flight";
      }
    }
    EXPECT_GE(goaways, 1);
    for (const OriginEvent& e : log) {
      if (e.kind != "request") continue;
      ++processed[e.fields.at("id")];
      ++on_conn[e.Number("conn")];
      posts_at_or_below += e.Number("conn") == 1 && e.fields.at("method") == "POST";
      if (e.Number("conn") == 1) {
        EXPECT_LE(e.Number("stream"), last) << e.fields.at("id") << " above last-stream-id";
      }
    }
    for (int i = 0; i < kFetches; ++i) {
      EXPECT_EQ(processed[Id(i)], 1) << Id(i) << (IsPost(i) ? " (POST)" : " (GET)");
    }
    EXPECT_EQ(on_conn[1], kLastNth);
    EXPECT_EQ(on_conn[2], kFetches - kLastNth);
    EXPECT_EQ(on_conn.size(), 2u);
    std::printf("GOAWAY(last_stream=%u) with %d streams open: %d answered on connection 1 "
                "(%d POSTs), %d sent again on connection 2\n",
                last, kFetches, on_conn[1], posts_at_or_below, on_conn[2]);
    return last;
  }

  ScriptOrigin origin_h2_;
};

// GOAWAY(last = the 3rd stream, NO_ERROR) with 8 streams open, 4 of them
// POSTs; the 3 up to last are answered after it, the 5 above never are,
// and the origin closes the connection. Every fetch succeeds, each request
// is processed once, and the 5 go on one new connection: 2 opened.
TEST_F(Http2GoAwayTest, InFlightStreamsAboveLastStreamIdAreSentAgainOnce) {
  Start("goaway-inflight");
  std::vector<CallResult> results = FetchAllAtOnce();
  ExpectAllAnswered(results);
  const uint32_t last = ExpectEachProcessedOnce();
  EXPECT_EQ(last, 2u * kLastNth - 1);  // streams 1, 3, 5: the connection's first three
  v1::HostPoolStats stats = StatsFor(origin_h2_.PoolKey());
  EXPECT_EQ(stats.connections_opened_total(), 2u);
  EXPECT_EQ(stats.protocol(), "h2c");
}

// RFC 9113 6.8's graceful shutdown: GOAWAY(2^31-1) and a PING, then, after
// the PING's ack, GOAWAY(last = the 3rd stream). The first GOAWAY refuses
// no stream; the second does, as above.
TEST_F(Http2GoAwayTest, TwoStepGracefulShutdownSendsAgainOnlyAboveTheFinalLastStreamId) {
  Start("goaway-graceful");
  std::vector<CallResult> results = FetchAllAtOnce();
  ExpectAllAnswered(results);
  EXPECT_EQ(ExpectEachProcessedOnce(), 2u * kLastNth - 1);
  int goaways = 0;
  for (const OriginEvent& e : origin_h2_.Log()) goaways += e.kind == "goaway";
  EXPECT_EQ(goaways, 2);
  EXPECT_EQ(StatsFor(origin_h2_.PoolKey()).connections_opened_total(), 2u);
}

// GOAWAY(last = the 3rd stream) and the connection closed at once: no
// stream is answered. The 5 above last were never processed: sent again,
// they succeed. The 3 at or below it may have been (RFC 9113 6.8): a GET is
// sent again once, a POST fails CONNECTION_RESET and is never sent again.
TEST_F(Http2GoAwayTest, StreamsAtOrBelowLastStreamIdCutOffByTheCloseAreNotPostedTwice) {
  Start("goaway-then-close");
  std::vector<CallResult> results = FetchAllAtOnce();
  std::vector<OriginEvent> log = origin_h2_.Log();
  uint32_t last = 0;
  std::map<std::string, uint32_t> first_stream;  // id -> its stream on connection 1
  std::map<std::string, int> sent_again;          // id -> arrivals on later connections
  std::map<std::string, int> processed;
  for (const OriginEvent& e : log) {
    if (e.kind == "goaway") last = e.Number("last_stream");
    if (e.kind == "arrived" && e.Number("conn") == 1) first_stream[e.fields.at("id")] = e.Number("stream");
    if (e.kind == "arrived" && e.Number("conn") > 1) ++sent_again[e.fields.at("id")];
    if (e.kind == "request") ++processed[e.fields.at("id")];
  }
  ASSERT_EQ(last, 2u * kLastNth - 1);
  ASSERT_EQ(first_stream.size(), static_cast<size_t>(kFetches)) << "not all in flight on connection 1";
  int posts_failed = 0;
  int gets_sent_again = 0;  // at or below last: each may open a connection (below)
  for (int i = 0; i < kFetches; ++i) {
    const CallResult& r = results[i];
    const bool at_or_below = first_stream[Id(i)] <= last;
    if (at_or_below && IsPost(i)) {
      EXPECT_FALSE(r.status.ok()) << Id(i);
      EXPECT_EQ(r.reason, "CONNECTION_RESET") << Id(i) << ": " << r.status.error_message();
      EXPECT_EQ(sent_again[Id(i)], 0) << Id(i) << " POST sent twice";
      EXPECT_EQ(processed[Id(i)], 0) << Id(i);
      ++posts_failed;
      continue;
    }
    gets_sent_again += at_or_below;
    EXPECT_TRUE(r.status.ok()) << Id(i) << ": " << r.reason << " " << r.status.error_message();
    EXPECT_EQ(r.response.body(), absl::StrCat(IsPost(i) ? "POST " : "GET ", Id(i), " ", Body(i)));
    EXPECT_EQ(sent_again[Id(i)], 1) << Id(i);
    EXPECT_EQ(processed[Id(i)], 1) << Id(i);
  }
  // The streams above last ask again like any fetch and share one new
  // connection; a GET cut off at or below it is a replay after a dead
  // connection, which HostPool gives a new connection of its own
  // (AcquireOptions::replay) unless one is free.
  const uint64_t opened = StatsFor(origin_h2_.PoolKey()).connections_opened_total();
  EXPECT_GE(opened, 2u);
  EXPECT_LE(opened, 2u + gets_sent_again);
  std::printf("GOAWAY(last_stream=%u) then close: %d POSTs at or below it failed, not sent "
              "again; the other %d fetches (%d GETs at or below it) sent again and answered; "
              "%llu connections\n",
              last, posts_failed, kFetches - posts_failed, gets_sent_again,
              static_cast<unsigned long long>(opened));
}

}  // namespace
}  // namespace fetchpool::testing
