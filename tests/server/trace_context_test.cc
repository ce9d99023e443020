// server/trace_context: W3C traceparent parsing and the upstream decision,
// per mode. Pure functions: no network.
#include "server/trace_context.h"

#include <gtest/gtest.h>

#include <random>

#include "absl/random/random.h"

namespace fetchpool {
namespace {

constexpr char kTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceparentTest, ParsesVersion00) {
  absl::optional<TraceParent> p = ParseTraceparent(kValid);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->trace_id, kTrace);
  EXPECT_EQ(p->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(p->flags, "01");
}

TEST(TraceparentTest, RejectsMalformed) {
  const char* bad[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    // short
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // 00 has nothing after
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
      "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version not hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // separator
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",   // flags not hex
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // future: no '-' after 55
  };
  for (const char* value : bad) EXPECT_FALSE(ParseTraceparent(value).has_value()) << value;
}

TEST(TraceparentTest, FutureVersionsReadByThe00Rules) {
  absl::optional<TraceParent> p =
      ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-ever");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->trace_id, kTrace);
  EXPECT_EQ(p->flags, "09");
  EXPECT_TRUE(ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(TracePropagationModeTest, ParsesAndNames) {
  for (TracePropagation m :
       {TracePropagation::kOff, TracePropagation::kForward, TracePropagation::kStart}) {
    EXPECT_EQ(*ParseTracePropagation(TracePropagationName(m)), m);
  }
  EXPECT_FALSE(ParseTracePropagation("on").ok());
}

class PlanTest : public ::testing::Test {
 protected:
  UpstreamTrace Plan(TracePropagation mode, absl::optional<std::string> parent,
                     absl::optional<std::string> state = absl::nullopt, int count = -1) {
    if (count < 0) count = parent.has_value() ? 1 : 0;
    return PlanUpstreamTrace(mode, parent, count, state, random_);
  }
  std::mt19937 random_{42};
};

TEST_F(PlanTest, OffNeverSends) {
  UpstreamTrace t = Plan(TracePropagation::kOff, std::string(kValid), "a=b");
  EXPECT_EQ(t.traceparent, "");
  EXPECT_EQ(t.tracestate, "");
  EXPECT_EQ(t.trace_id, "");
}

TEST_F(PlanTest, ForwardKeepsTraceAndFlagsWithANewSpan) {
  UpstreamTrace t = Plan(TracePropagation::kForward, std::string(kValid), "congo=t61rcWkgMzE");
  absl::optional<TraceParent> sent = ParseTraceparent(t.traceparent);
  ASSERT_TRUE(sent.has_value()) << t.traceparent;
  EXPECT_EQ(t.traceparent.substr(0, 3), "00-");
  EXPECT_EQ(sent->trace_id, kTrace);
  EXPECT_NE(sent->parent_id, "00f067aa0ba902b7");  // our span, child of the caller's
  EXPECT_EQ(sent->flags, "01");
  EXPECT_EQ(t.tracestate, "congo=t61rcWkgMzE");
  EXPECT_EQ(t.trace_id, kTrace);
  // Each fetch gets its own span id.
  EXPECT_NE(Plan(TracePropagation::kForward, std::string(kValid)).traceparent, t.traceparent);
}

TEST_F(PlanTest, FutureVersionIsSentAsVersion00) {
  UpstreamTrace t = Plan(TracePropagation::kForward,
                         std::string("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));
  EXPECT_EQ(t.traceparent.size(), 55u);
  EXPECT_EQ(t.traceparent.substr(0, 36), std::string("00-") + kTrace + "-");
}

TEST_F(PlanTest, ForwardSendsNothingWithoutAValidParent) {
  EXPECT_EQ(Plan(TracePropagation::kForward, absl::nullopt, "a=b").traceparent, "");
  UpstreamTrace bad = Plan(TracePropagation::kForward, std::string("00-nope"), "a=b");
  EXPECT_EQ(bad.traceparent, "");
  EXPECT_EQ(bad.tracestate, "");  // dropped with its traceparent
  EXPECT_EQ(bad.trace_id, "");
  // The header repeated is malformed.
  EXPECT_EQ(Plan(TracePropagation::kForward, std::string(kValid), absl::nullopt, 2).traceparent,
            "");
}

TEST_F(PlanTest, StartBeginsANewTraceWhenNoneOrMalformed) {
  for (absl::optional<std::string> parent :
       {absl::optional<std::string>(), absl::optional<std::string>("garbage")}) {
    UpstreamTrace t = Plan(TracePropagation::kStart, parent, "a=b");
    absl::optional<TraceParent> sent = ParseTraceparent(t.traceparent);
    ASSERT_TRUE(sent.has_value()) << t.traceparent;
    EXPECT_EQ(sent->trace_id, t.trace_id);
    EXPECT_NE(t.trace_id, kTrace);
    EXPECT_EQ(sent->flags, "00");
    EXPECT_EQ(t.tracestate, "");  // not the caller's: it belonged to no valid parent
  }
  // A valid parent is forwarded as in forward mode.
  EXPECT_EQ(Plan(TracePropagation::kStart, std::string(kValid)).trace_id, kTrace);
}

TEST_F(PlanTest, OversizedOrControlCharacterTracestateDropped) {
  EXPECT_EQ(Plan(TracePropagation::kForward, std::string(kValid), std::string(513, 'a')).tracestate,
            "");
  EXPECT_EQ(Plan(TracePropagation::kForward, std::string(kValid), "a=b\r\nx: y").tracestate, "");
}

TEST(ApplyUpstreamTraceTest, CallerHeadersOfThoseNamesAreReplaced) {
  FetchSpec spec;
  spec.headers = {{"TraceParent", "00-injected"}, {"x-a", "1"}, {"TRACESTATE", "evil=1"}};
  UpstreamTrace t{"00-" + std::string(kTrace) + "-1111111111111111-01", "a=b", kTrace};
  ApplyUpstreamTrace(TracePropagation::kForward, t, &spec);
  ASSERT_EQ(spec.headers.size(), 1u);
  EXPECT_EQ(spec.headers[0].first, "x-a");
  EXPECT_EQ(spec.traceparent, t.traceparent);
  EXPECT_EQ(spec.tracestate, "a=b");
  EXPECT_EQ(spec.trace_id, kTrace);

  // Forward with nothing to send still removes the caller's.
  FetchSpec none;
  none.headers = {{"traceparent", "00-injected"}};
  ApplyUpstreamTrace(TracePropagation::kForward, UpstreamTrace(), &none);
  EXPECT_TRUE(none.headers.empty());
  EXPECT_EQ(none.traceparent, "");

  // Off: the caller's headers are any other headers.
  FetchSpec off;
  off.headers = {{"traceparent", "x"}};
  ApplyUpstreamTrace(TracePropagation::kOff, t, &off);
  EXPECT_EQ(off.headers.size(), 1u);
  EXPECT_EQ(off.traceparent, "");
}

TEST(TraceFetchTest, UsesTheCallersMetadata) {
  CallerTrace caller;
  caller.mode = TracePropagation::kForward;
  caller.traceparent = kValid;
  caller.traceparent_count = 1;
  FetchSpec spec;
  TraceFetch(caller, &spec);
  EXPECT_EQ(spec.trace_id, kTrace);
  EXPECT_TRUE(ParseTraceparent(spec.traceparent).has_value());
}

}  // namespace
}  // namespace fetchpool
