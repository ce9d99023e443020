// W3C trace context carried upstream (README "Trace context"): for each
// --trace_propagation mode, the traceparent/tracestate the origin receives
// (its /dump route), FetchResponse.trace_id, malformed values dropped,
// injection through FetchRequest.headers refused, and the failure log line.
// A real fetchpool server and origin on loopback; the caller's trace context
// travels as gRPC client metadata.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/trace_context.h"
#include "tests/integration/service_fixture.h"

namespace fetchpool::testing {
namespace {

constexpr char kTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kParent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

using Metadata = std::vector<std::pair<std::string, std::string>>;

// The request headers the origin saw, lower-cased names (its /dump body:
// "METHOD\n", then "Name: value" lines, then a blank line).
std::vector<std::pair<std::string, std::string>> DumpedHeaders(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<std::string> lines = absl::StrSplit(body, '\n');
  for (size_t i = 1; i < lines.size() && !lines[i].empty(); ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(lines[i], absl::MaxSplits(": ", 1));
    out.emplace_back(absl::AsciiStrToLower(kv.first), kv.second);
  }
  return out;
}

std::vector<std::string> Received(const CallResult& r, const std::string& name) {
  std::vector<std::string> values;
  for (const auto& [n, v] : DumpedHeaders(r.response.body())) {
    if (n == name) values.push_back(v);
  }
  return values;
}

class TracePropagationTest : public ServiceTest {
 protected:
  void Start(const std::string& mode) {
    ServerConfig config = LoopbackConfig();
    config.trace_propagation = mode;
    StartServer(config);
  }

  CallResult FetchWith(const Metadata& metadata, const std::string& path = "/dump",
                       const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    v1::FetchRequest request;
    request.set_url(Url(path));
    for (const auto& [name, value] : headers) {
      v1::Header* h = request.add_headers();
      h->set_name(name);
      h->set_value(value);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
    CallResult out;
    out.status = stub_->Fetch(&context, request, &out.response);
    out.reason = ReasonTrailer(context);
    return out;
  }
};

// The value sent is a child of the caller's span: same trace id and flags,
// a new span id.
void ExpectChildOfCaller(const std::vector<std::string>& sent) {
  ASSERT_EQ(sent.size(), 1u);
  absl::optional<TraceParent> p = ParseTraceparent(sent[0]);
  ASSERT_TRUE(p.has_value()) << sent[0];
  EXPECT_EQ(p->trace_id, kTrace);
  EXPECT_NE(p->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(p->flags, "01");
}

TEST_F(TracePropagationTest, ForwardIsTheDefault) {
  EXPECT_EQ(ServerConfig().trace_propagation, "forward");
}

TEST_F(TracePropagationTest, ForwardSendsAChildOfTheCallersSpan) {
  Start("forward");
  CallResult r = FetchWith({{"traceparent", kParent}, {"tracestate", "congo=t61rcWkgMzE"}});
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ExpectChildOfCaller(Received(r, "traceparent"));
  EXPECT_THAT(Received(r, "tracestate"), ::testing::ElementsAre("congo=t61rcWkgMzE"));
  EXPECT_EQ(r.response.trace_id(), kTrace);
  // A second fetch of the same trace: another span id.
  CallResult again = FetchWith({{"traceparent", kParent}});
  ASSERT_TRUE(again.status.ok());
  EXPECT_NE(Received(again, "traceparent"), Received(r, "traceparent"));
  EXPECT_TRUE(Received(again, "tracestate").empty());
}

TEST_F(TracePropagationTest, ForwardWithoutCallerContextSendsNone) {
  Start("forward");
  CallResult r = FetchWith({});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(Received(r, "traceparent").empty());
  EXPECT_EQ(r.response.trace_id(), "");
}

TEST_F(TracePropagationTest, MalformedIsDroppedWithItsTracestate) {
  Start("forward");
  for (const char* bad : {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage"}) {
    CallResult r = FetchWith({{"traceparent", bad}, {"tracestate", "a=b"}});
    ASSERT_TRUE(r.status.ok()) << bad;
    EXPECT_TRUE(Received(r, "traceparent").empty()) << bad;
    EXPECT_TRUE(Received(r, "tracestate").empty()) << bad;
    EXPECT_EQ(r.response.trace_id(), "") << bad;
  }
}

TEST_F(TracePropagationTest, OffNeverSends) {
  Start("off");
  CallResult r = FetchWith({{"traceparent", kParent}, {"tracestate", "a=b"}});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(Received(r, "traceparent").empty());
  EXPECT_TRUE(Received(r, "tracestate").empty());
  EXPECT_EQ(r.response.trace_id(), "");
}

TEST_F(TracePropagationTest, StartBeginsATraceWhenTheCallerSentNone) {
  Start("start");
  CallResult r = FetchWith({});
  ASSERT_TRUE(r.status.ok());
  std::vector<std::string> sent = Received(r, "traceparent");
  ASSERT_EQ(sent.size(), 1u);
  absl::optional<TraceParent> p = ParseTraceparent(sent[0]);
  ASSERT_TRUE(p.has_value()) << sent[0];
  EXPECT_EQ(p->trace_id, r.response.trace_id());
  EXPECT_EQ(p->flags, "00");
  // Malformed: a new trace too, never the caller's value.
  CallResult bad = FetchWith({{"traceparent", "garbage"}});
  ASSERT_EQ(Received(bad, "traceparent").size(), 1u);
  EXPECT_NE(Received(bad, "traceparent")[0], "garbage");
  EXPECT_NE(bad.response.trace_id(), r.response.trace_id());
  // A valid one is forwarded as in forward mode.
  CallResult fwd = FetchWith({{"traceparent", kParent}});
  ExpectChildOfCaller(Received(fwd, "traceparent"));
}

// Decided: with propagation on, FetchRequest.headers cannot carry a
// traceparent or tracestate: the propagated values replace them (or none is
// sent). With it off they are ordinary headers.
TEST_F(TracePropagationTest, RequestHeadersCannotInjectATraceparent) {
  Start("forward");
  const std::vector<std::pair<std::string, std::string>> injected = {
      {"Traceparent", "00-11111111111111111111111111111111-2222222222222222-01"},
      {"tracestate", "evil=1"}};
  CallResult none = FetchWith({}, "/dump", injected);
  ASSERT_TRUE(none.status.ok());
  EXPECT_TRUE(Received(none, "traceparent").empty());
  EXPECT_TRUE(Received(none, "tracestate").empty());
  CallResult replaced = FetchWith({{"traceparent", kParent}}, "/dump", injected);
  ExpectChildOfCaller(Received(replaced, "traceparent"));
  EXPECT_TRUE(Received(replaced, "tracestate").empty());
}

TEST_F(TracePropagationTest, OffLeavesRequestHeadersAlone) {
  Start("off");
  CallResult r = FetchWith({}, "/dump", {{"traceparent", "caller-owned"}});
  EXPECT_THAT(Received(r, "traceparent"), ::testing::ElementsAre("caller-owned"));
}

TEST_F(TracePropagationTest, StreamFetchesEachGetASpanAndTheTraceId) {
  Start("forward");
  grpc::ClientContext context;
  context.AddMetadata("traceparent", kParent);
  auto stream = stub_->FetchStream(&context);
  for (int i = 0; i < 2; ++i) {
    v1::FetchRequest request;
    request.set_url(Url("/dump"));
    request.set_id(absl::StrCat(i));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::vector<std::string> sent;
  v1::FetchResponse response;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.trace_id(), kTrace);
    CallResult r;
    r.response = response;
    std::vector<std::string> tp = Received(r, "traceparent");
    ASSERT_EQ(tp.size(), 1u);
    sent.push_back(tp[0]);
  }
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_NE(sent[0], sent[1]);
}

TEST_F(TracePropagationTest, FailureLogLineCarriesTheTraceId) {
  Start("forward");
  ::testing::internal::CaptureStderr();
  CallResult r = FetchWith({{"traceparent", kParent}}, "/reset");
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(log, ::testing::HasSubstr("fetch_failed"));
  EXPECT_THAT(log, ::testing::HasSubstr(kTrace));
}

}  // namespace
}  // namespace fetchpool::testing
