// The engine's decisions as pure functions (no curl, no loop), and the
// fetch's phase diagram.
#include "engine/fetch_decisions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
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

// HTTP/2: a stream the origin never processed (REFUSED_STREAM, above a
// GOAWAY's last-stream-id) or that never left (the connection took no new
// stream) is replayed whatever its method, a few times at most; only the
// stream ends, not the connection. A stream that died otherwise follows
// the rules above.
TEST(ShouldReplayTest, AStreamTheOriginNeverProcessedIsReplayedWhateverItsMethod) {
  AttemptOutcome a;
  a.never_processed = true;
  a.replayable = false;  // a plain POST
  a.reused = true;
  EXPECT_TRUE(ShouldReplay(a));
  EXPECT_EQ(ConnectionEnd(a, false), ExchangeEnd::kAborted);
  a.reused = false;  // on the connection it opened: the same
  EXPECT_TRUE(ShouldReplay(a));
  a.attempts = kMaxNeverProcessedAttempts - 1;
  EXPECT_TRUE(ShouldReplay(a));
  a.attempts = kMaxNeverProcessedAttempts;  // bounded
  EXPECT_FALSE(ShouldReplay(a));
  EXPECT_EQ(ConnectionEnd(a, false), ExchangeEnd::kAborted);
  a.attempts = 1;
  a.any_response_byte = true;  // it was answered after all: not replayed
  EXPECT_FALSE(ShouldReplay(a));

  AttemptOutcome died = DiedOnReuse();  // no REFUSED_STREAM: today's rules
  died.replayable = false;
  EXPECT_FALSE(ShouldReplay(died));
  EXPECT_EQ(ConnectionEnd(died, false), ExchangeEnd::kFailed);
}

// HTTP/2: the origin sent GOAWAY and closed before answering a stream at
// or below its last-stream-id. The close is the announced shutdown (the
// reuse race), so a safe request is replayed once even on the connection
// it opened; a plain POST never is (the origin may have processed it).
TEST(ShouldReplayTest, AStreamCutOffAfterGoAwayIsReplayedOnceWhenSafe) {
  AttemptOutcome a = DiedOnReuse();
  a.reused = false;
  a.origin_going_away = true;
  EXPECT_TRUE(ShouldReplay(a));
  EXPECT_EQ(ConnectionEnd(a, false), ExchangeEnd::kStale);
  a.attempts = 2;  // once only
  EXPECT_FALSE(ShouldReplay(a));
  a.attempts = 1;
  a.replayable = false;  // a plain POST
  EXPECT_FALSE(ShouldReplay(a));
  EXPECT_EQ(ConnectionEnd(a, false), ExchangeEnd::kFailed);
  a.replayable = true;
  a.any_response_byte = true;  // the origin started answering
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

// ---- Redirect hygiene (issue 11, part 4) ----

TEST(DecideRedirectTest, NonHttpSchemesAreNeverFollowed) {
  for (const char* location :
       {"file:///etc/passwd", "FILE:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://a.test/x",
        "dict://a.test:11211/stat", "ldap://a.test/", "javascript:alert(1)", "data:text/plain,hi"}) {
    RedirectStep step = DecideRedirect(Spec("GET", "http://a.test/"), 302, {{"Location", location}}, 0);
    ASSERT_EQ(step.kind, RedirectStep::Kind::kError) << location;
    EXPECT_EQ(ReasonOf(step.error), "DESTINATION_DENIED") << location;
    EXPECT_EQ(step.error.code(), absl::StatusCode::kPermissionDenied) << location;
    EXPECT_TRUE(absl::StrContains(step.error.message(), "is not http or https")) << step.error;
  }
}

TEST(DecideRedirectTest, ExplicitScheme) {
  EXPECT_EQ(ExplicitScheme("HTTPS://a/"), "https");
  EXPECT_EQ(ExplicitScheme("file:///x"), "file");
  EXPECT_EQ(ExplicitScheme("svn+ssh://x"), "svn+ssh");
  EXPECT_EQ(ExplicitScheme("/a:b"), "");
  EXPECT_EQ(ExplicitScheme("//host/a"), "");
  EXPECT_EQ(ExplicitScheme("a/b:c"), "");
  EXPECT_EQ(ExplicitScheme("?q=a:b"), "");
  EXPECT_EQ(ExplicitScheme(""), "");
}

TEST(DecideRedirectTest, HttpsToHttpIsRefusedUnlessAllowed) {
  FetchSpec spec = Spec("GET", "https://a.test/");
  spec.pool_key = "https://a.test:443";
  RedirectStep step = DecideRedirect(spec, 302, {{"Location", "http://a.test/plain"}}, 0);
  ASSERT_EQ(step.kind, RedirectStep::Kind::kError);
  EXPECT_EQ(ReasonOf(step.error), "INSECURE_REDIRECT");
  EXPECT_EQ(step.error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(step.error.message(), "allow_https_downgrade")) << step.error;
  // https -> https and http -> https are fine.
  EXPECT_EQ(DecideRedirect(spec, 302, {{"Location", "https://b.test/"}}, 0).kind,
            RedirectStep::Kind::kFollow);
  EXPECT_EQ(DecideRedirect(Spec("GET", "http://a.test/"), 302, {{"Location", "https://a.test/"}}, 0).kind,
            RedirectStep::Kind::kFollow);
  spec.allow_https_downgrade = true;
  step = DecideRedirect(spec, 302, {{"Location", "http://a.test/plain"}}, 0);
  ASSERT_EQ(step.kind, RedirectStep::Kind::kFollow);
  EXPECT_EQ(step.pool_key, "http://a.test:80");
}

HeaderList Names(const HeaderList& headers) {
  HeaderList out;
  for (const auto& h : headers) out.emplace_back(h.first, "");
  return out;
}

TEST(DecideRedirectTest, CredentialsAreDroppedWhenTheOriginChanges) {
  FetchSpec spec = Spec("GET", "http://a.test/");
  spec.headers = {{"Authorization", "Bearer s"}, {"COOKIE", "a=1"}, {"proxy-authorization", "x"},
                  {"X-Api-Key", "k"}, {"Accept", "*/*"}};
  const std::vector<std::string> extra = {"x-api-key"};
  // Another host, another port, another scheme: each is another origin.
  for (const char* location : {"http://b.test/", "http://a.test:8080/", "https://a.test/"}) {
    RedirectStep step = DecideRedirect(spec, 302, {{"Location", location}}, 0, extra);
    ASSERT_EQ(step.kind, RedirectStep::Kind::kFollow) << location;
    EXPECT_TRUE(step.headers_changed) << location;
    EXPECT_EQ(step.headers, (HeaderList{{"Accept", "*/*"}})) << location;
  }
  // Without the profile's list, only the three standard ones go.
  RedirectStep step = DecideRedirect(spec, 302, {{"Location", "http://b.test/"}}, 0);
  EXPECT_EQ(Names(step.headers), (HeaderList{{"X-Api-Key", ""}, {"Accept", ""}}));
  // The same origin (written differently) keeps them all, as curl does.
  for (const char* location : {"/next", "http://A.TEST:80/next", "//a.test/next"}) {
    step = DecideRedirect(spec, 307, {{"Location", location}}, 0, extra);
    ASSERT_EQ(step.kind, RedirectStep::Kind::kFollow) << location;
    EXPECT_FALSE(step.headers_changed) << location;
    EXPECT_EQ(step.headers, spec.headers) << location;
  }
}

TEST(DecideRedirectTest, ABodyDroppedTakesItsHeadersAlong) {
  FetchSpec spec = Spec("POST", "http://a.test/");
  spec.headers = {{"Content-Type", "application/json"}, {"content-encoding", "gzip"},
                  {"Content-Language", "en"}, {"Content-Location", "/x"}, {"Accept", "*/*"},
                  {"Authorization", "Bearer s"}};
  for (int status : {301, 302, 303}) {
    RedirectStep step = DecideRedirect(spec, status, {{"Location", "/b"}}, 0);
    ASSERT_EQ(step.kind, RedirectStep::Kind::kFollow);
    EXPECT_EQ(step.method, "GET") << status;
    EXPECT_TRUE(step.drop_body) << status;
    EXPECT_EQ(Names(step.headers), (HeaderList{{"Accept", ""}, {"Authorization", ""}})) << status;
  }
  for (int status : {307, 308}) {
    RedirectStep step = DecideRedirect(spec, status, {{"Location", "/b"}}, 0);
    EXPECT_EQ(step.method, "POST") << status;
    EXPECT_FALSE(step.drop_body) << status;
    EXPECT_FALSE(step.headers_changed) << status;
    EXPECT_EQ(step.headers, spec.headers) << status;
  }
  // 301/302 keep PUT (only POST turns into GET, as in curl and browsers); 303 does not.
  spec.method = "PUT";
  EXPECT_EQ(DecideRedirect(spec, 302, {{"Location", "/b"}}, 0).method, "PUT");
  EXPECT_FALSE(DecideRedirect(spec, 302, {{"Location", "/b"}}, 0).drop_body);
  EXPECT_EQ(DecideRedirect(spec, 303, {{"Location", "/b"}}, 0).method, "GET");
}

TEST(NeverSentPromiseTest, RetrySafeReasonsOnlyBeforeAnyRequestWentOut) {
  const absl::Status queue_full = MakeError(Reason::kQueueFull, "queue of http://a:80 is full");
  const absl::Status shutting_down = MakeError(Reason::kShuttingDown, "fetchpool is shutting down");
  const absl::Status reset = MakeError(Reason::kConnectionReset, "reset");
  EXPECT_EQ(ReasonOf(KeepNeverSentPromise(queue_full, false)), "QUEUE_FULL");
  EXPECT_EQ(ReasonOf(KeepNeverSentPromise(shutting_down, false)), "SHUTTING_DOWN");
  // A redirect hop's full queue, or a shutdown cutting off a running exchange.
  absl::Status after = KeepNeverSentPromise(queue_full, true);
  EXPECT_EQ(ReasonOf(after), "ABORTED_AFTER_SEND");
  EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(after.message()), ::testing::HasSubstr("queue of http://a:80 is full"));
  EXPECT_EQ(ReasonOf(KeepNeverSentPromise(shutting_down, true)), "ABORTED_AFTER_SEND");
  // Other reasons pass through either way.
  EXPECT_EQ(ReasonOf(KeepNeverSentPromise(reset, true)), "CONNECTION_RESET");
  EXPECT_TRUE(KeepNeverSentPromise(absl::OkStatus(), true).ok());
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
