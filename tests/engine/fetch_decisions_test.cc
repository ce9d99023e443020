// The engine's decisions as pure functions (no curl, no loop), and the
// fetch's phase diagram.
#include "engine/fetch_decisions.h"

#include <gtest/gtest.h>

#include "common/reason.h"
#include "engine/fetch_op.h"

namespace fetchpool {
namespace {

// A GET that died on a reused connection before any response byte.
AttemptOutcome DiedOnReuse() {
  AttemptOutcome a;
  a.ok = false;
  a.stale_error = true;
  a.reused = true;
  a.replayable = true;
  return a;
}

TEST(ShouldReplayTest, OnlyASafeRequestThatDiedOnAReusedConnectionBeforeAnyByte) {
  EXPECT_TRUE(ShouldReplay(DiedOnReuse()));
  AttemptOutcome refused_replay = DiedOnReuse();
  refused_replay.stale_error = false;
  refused_replay.died_after_request = true;  // curl's own replay was refused
  EXPECT_TRUE(ShouldReplay(refused_replay));

  AttemptOutcome a = DiedOnReuse();
  a.replayable = false;  // a plain POST
  EXPECT_FALSE(ShouldReplay(a));
  a = DiedOnReuse();
  a.reused = false;  // a new connection: the origin really failed
  EXPECT_FALSE(ShouldReplay(a));
  a = DiedOnReuse();
  a.any_response_byte = true;  // the origin started answering
  EXPECT_FALSE(ShouldReplay(a));
  a = DiedOnReuse();
  a.attempts = 2;  // once only
  EXPECT_FALSE(ShouldReplay(a));
  a = DiedOnReuse();
  a.stale_error = false;  // e.g. a timeout
  EXPECT_FALSE(ShouldReplay(a));
  a = DiedOnReuse();
  a.ok = true;
  EXPECT_FALSE(ShouldReplay(a));
}

TEST(ConnectionEndTest, WhatBecomesOfTheConnection) {
  AttemptOutcome ok;
  ok.ok = true;
  ok.socket_open = true;
  EXPECT_EQ(ConnectionEnd(ok, false), ExchangeEnd::kComplete);
  EXPECT_EQ(ConnectionEnd(ok, /*draining=*/true), ExchangeEnd::kComplete) << "a drain that ended cleanly keeps it";
  ok.socket_open = false;
  EXPECT_EQ(ConnectionEnd(ok, false), ExchangeEnd::kCompleteClosed);
  EXPECT_EQ(ConnectionEnd(DiedOnReuse(), false), ExchangeEnd::kStale);
  AttemptOutcome failed;
  EXPECT_EQ(ConnectionEnd(failed, false), ExchangeEnd::kFailed);
  EXPECT_EQ(ConnectionEnd(failed, /*draining=*/true), ExchangeEnd::kAborted);
  failed.too_large = true;
  EXPECT_EQ(ConnectionEnd(failed, false), ExchangeEnd::kAborted);
}

FetchSpec Spec(const std::string& method, const std::string& url) {
  FetchSpec spec;
  spec.method = method;
  spec.url = url;
  spec.pool_key = "http://a.test:80";
  spec.body = "payload";
  return spec;
}

TEST(DecideRedirectTest, FollowsRelativeAndAbsoluteLocations) {
  RedirectStep step = DecideRedirect(Spec("GET", "http://a.test/x/y"), 302,
                                     {{"Location", "../z?q=1"}}, 0);
  ASSERT_EQ(step.kind, RedirectStep::Kind::kFollow);
  EXPECT_EQ(step.url, "http://a.test/z?q=1");
  EXPECT_EQ(step.pool_key, "http://a.test:80");
  EXPECT_EQ(step.method, "GET");
  EXPECT_FALSE(step.drop_body);
  step = DecideRedirect(Spec("PUT", "http://a.test/"), 307, {{"location", "https://B.test/"}}, 3);
  ASSERT_EQ(step.kind, RedirectStep::Kind::kFollow);
  EXPECT_EQ(step.pool_key, "https://b.test:443");
  EXPECT_EQ(step.method, "PUT") << "307 keeps the method and body";
  EXPECT_FALSE(step.drop_body);
}

TEST(DecideRedirectTest, SeeOtherAndPostRedirectsBecomeGetWithoutBody) {
  RedirectStep step = DecideRedirect(Spec("PUT", "http://a.test/"), 303, {{"Location", "/b"}}, 0);
  EXPECT_EQ(step.method, "GET");
  EXPECT_TRUE(step.drop_body);
  step = DecideRedirect(Spec("POST", "http://a.test/"), 301, {{"Location", "/b"}}, 0);
  EXPECT_EQ(step.method, "GET");
  EXPECT_TRUE(step.drop_body);
  step = DecideRedirect(Spec("HEAD", "http://a.test/"), 303, {{"Location", "/b"}}, 0);
  EXPECT_EQ(step.method, "HEAD");
  step = DecideRedirect(Spec("POST", "http://a.test/"), 308, {{"Location", "/b"}}, 0);
  EXPECT_EQ(step.method, "POST");
  EXPECT_FALSE(step.drop_body);
}

TEST(DecideRedirectTest, NoLocationTooManyAndUnusable) {
  EXPECT_EQ(DecideRedirect(Spec("GET", "http://a.test/"), 302, {}, 0).kind,
            RedirectStep::Kind::kAnswer);
  FetchSpec spec = Spec("GET", "http://a.test/");
  spec.max_redirects = 2;
  RedirectStep step = DecideRedirect(spec, 302, {{"Location", "/b"}}, 2);
  ASSERT_EQ(step.kind, RedirectStep::Kind::kError);
  EXPECT_EQ(ReasonOf(step.error), "TOO_MANY_REDIRECTS");
  step = DecideRedirect(Spec("GET", "http://a.test/"), 302, {{"Location", "http://a b/"}}, 0);
  ASSERT_EQ(step.kind, RedirectStep::Kind::kError);
  EXPECT_EQ(ReasonOf(step.error), "PROTOCOL_ERROR");
}

// Another scheme in Location is an SSRF attempt, denied like an address.
TEST(DecideRedirectTest, OtherSchemesAreDestinationDenied) {
  for (const char* location : {"file:///etc/passwd", "FILE:/etc/passwd", "gopher://a.test:70/x",
                               "dict://a.test:11211/stat", "ftp://a.test/"}) {
    RedirectStep step = DecideRedirect(Spec("GET", "http://a.test/"), 302, {{"Location", location}}, 0);
    ASSERT_EQ(step.kind, RedirectStep::Kind::kError) << location;
    EXPECT_EQ(ReasonOf(step.error), "DESTINATION_DENIED") << location;
  }
  EXPECT_EQ(DecideRedirect(Spec("GET", "http://a.test/"), 302, {{"Location", "HTTPS://b.test/"}}, 0).kind,
            RedirectStep::Kind::kFollow);
  EXPECT_EQ(DecideRedirect(Spec("GET", "http://a.test/"), 302, {{"Location", "/x:y"}}, 0).kind,
            RedirectStep::Kind::kFollow);
}

TEST(RedirectStatusTest, TheFiveRedirects) {
  for (int s : {301, 302, 303, 307, 308}) EXPECT_TRUE(IsRedirect(s)) << s;
  for (int s : {200, 300, 304, 305, 306, 400}) EXPECT_FALSE(IsRedirect(s)) << s;
}

TEST(KeepAliveTest, ParsesTheTimeout) {
  EXPECT_EQ(ParseKeepAliveTimeout("timeout=5, max=100"), absl::Seconds(5));
  EXPECT_EQ(ParseKeepAliveTimeout("max=100,timeout=0"), absl::ZeroDuration());
  EXPECT_FALSE(ParseKeepAliveTimeout("max=100").has_value());
  EXPECT_FALSE(ParseKeepAliveTimeout("timeout=-1").has_value());
  EXPECT_FALSE(ParseKeepAliveTimeout("timeout=abc").has_value());
}

TEST(FetchPhaseTest, TheDiagramIsEnforced) {
  FetchOp op;
  op.EnterPhase(FetchOp::Phase::kTransferring);
  op.EnterPhase(FetchOp::Phase::kWaiting);  // a replay
  op.EnterPhase(FetchOp::Phase::kTransferring);
  op.EnterPhase(FetchOp::Phase::kDraining);
  op.EnterPhase(FetchOp::Phase::kDone);
  EXPECT_EQ(op.phase(), FetchOp::Phase::kDone);
  FetchOp waiting;
  EXPECT_DEATH(waiting.EnterPhase(FetchOp::Phase::kDraining), "bad phase change");
  FetchOp draining;
  draining.EnterPhase(FetchOp::Phase::kTransferring);
  draining.EnterPhase(FetchOp::Phase::kDraining);
  EXPECT_DEATH(draining.EnterPhase(FetchOp::Phase::kWaiting), "bad phase change");
}

}  // namespace
}  // namespace fetchpool
