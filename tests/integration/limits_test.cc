// Hostile origins are bounded (issue 11, part 5): response header caps,
// the speed floor and the cap on a fetch whose caller set no deadline,
// each against a misbehaving TestOrigin through the running service.
// Bounds are generous: these also run under ASan and TSan on 2 cores.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/service_fixture.h"

namespace fetchpool::testing {
namespace {

class LimitsTest : public ServiceTest {
 protected:
  // A Fetch with no gRPC deadline at all.
  CallResult FetchWithoutDeadline(const v1::FetchRequest& request) {
    grpc::ClientContext context;
    CallResult out;
    out.status = stub_->Fetch(&context, request, &out.response);
    out.reason = ReasonTrailer(context);
    return out;
  }
};

TEST_F(LimitsTest, TooManyResponseHeaders) {
  StartServer(LoopbackConfig());
  // 101 of its own, plus the origin's X-Connection-Id, X-Request-On-Connection
  // and Content-Length.
  CallResult r = Get("/many_headers?n=101&size=1");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.reason, "RESPONSE_HEADERS_TOO_LARGE");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(),
                                "more than 100 header lines (--max_response_headers) from http://"))
      << r.status.error_message();
}

TEST_F(LimitsTest, OneHugeResponseHeader) {
  StartServer(LoopbackConfig());
  CallResult r = Get(absl::StrCat("/many_headers?n=1&size=", 70 * 1024));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.reason, "RESPONSE_HEADERS_TOO_LARGE");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(),
                                "response headers exceeded 65536 bytes "
                                "(--max_response_header_bytes) from http://"))
      << r.status.error_message();
}

TEST_F(LimitsTest, JustUnderBothCapsSucceeds) {
  StartServer(LoopbackConfig());
  // 97 + 3 = 100 header lines (the cap, inclusive), ~61.5 KB of 64 KiB.
  CallResult r = Get("/many_headers?n=97&size=620");
  ASSERT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
  EXPECT_EQ(r.response.status(), 200);
  EXPECT_EQ(r.response.body(), "many headers");
  // The connection is fine afterwards.
  EXPECT_TRUE(Get("/echo").status.ok());
}

TEST_F(LimitsTest, InterimResponsesCountTowardTheCaps) {
  StartServer(LoopbackConfig());
  CallResult ok = Get("/interim?n=2&headers=5");
  ASSERT_TRUE(ok.status.ok()) << ok.reason << ": " << ok.status.error_message();
  EXPECT_EQ(ok.response.body(), "after hints");
  // 20 x 5 Link lines before the final response: 100 already.
  CallResult r = Get("/interim?n=20&headers=5");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r.reason, "RESPONSE_HEADERS_TOO_LARGE");
}

TEST_F(LimitsTest, CapsArePerHostSettings) {
  ServerConfig config = LoopbackConfig();
  HostConfig& host = config.engine.per_host[PoolKey() + ""];
  host = config.engine.defaults;
  host.fetch.max_response_headers = 200;
  StartServer(config);
  CallResult r = Get("/many_headers?n=150&size=1");
  EXPECT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
}

TEST_F(LimitsTest, TricklingOriginIsTooSlow) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.fetch.min_transfer_speed = 1024;
  config.engine.defaults.fetch.min_transfer_speed_window = absl::Seconds(1);
  StartServer(config);
  // 10 bytes every 100 ms: 100 bytes/s, well under 1 KiB/s.
  CallResult r = Get("/slowbody?n=100000&interval_ms=100&chunk=10", absl::Seconds(60));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(r.reason, "UPSTREAM_TOO_SLOW");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(),
                                "under 1024 bytes/s for 1s (--min_transfer_speed"))
      << r.status.error_message();
  // A fast response on the same settings is fine.
  CallResult fast = Get("/bytes?n=100000", absl::Seconds(60));
  EXPECT_TRUE(fast.status.ok()) << fast.reason << ": " << fast.status.error_message();
}

TEST_F(LimitsTest, SpeedFloorZeroIsOff) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.fetch.min_transfer_speed = 0;
  config.engine.defaults.fetch.min_transfer_speed_window = absl::Seconds(1);
  StartServer(config);
  // 1.5 s of trickle with no floor: it completes.
  CallResult r = Get("/slowbody?n=15&interval_ms=100&chunk=1", absl::Seconds(60));
  EXPECT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
}

TEST_F(LimitsTest, MaxRequestTimeCapsAFetchWithoutDeadline) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.fetch.max_request_time = absl::Seconds(1);
  StartServer(config);
  v1::FetchRequest request;
  request.set_url(Url("/sleep?ms=600000"));  // never finishes in time
  CallResult r = FetchWithoutDeadline(request);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(r.reason, "DEADLINE_EXCEEDED");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "--max_request_time"))
      << r.status.error_message();
}

TEST_F(LimitsTest, ACallersOwnDeadlineIsNotCapped) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.fetch.max_request_time = absl::Seconds(1);
  StartServer(config);
  // Longer than the cap, within the caller's deadline and request_timeout.
  CallResult r = Get("/sleep?ms=2000", absl::Seconds(60));
  EXPECT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
  v1::FetchRequest request;
  request.set_url(Url("/sleep?ms=2000"));
  request.mutable_request_timeout()->set_seconds(30);
  r = FetchWithoutDeadline(request);
  EXPECT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
}

}  // namespace
}  // namespace fetchpool::testing
