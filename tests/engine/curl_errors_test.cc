// How a failed transfer becomes a status: the hostile-origin cases of
// issue 11 (header caps, the speed floor told apart from timeouts).
#include "engine/curl_errors.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/reason.h"

namespace fetchpool {
namespace {

TransferFailure TimedOut(bool connected, uint64_t speed_floor) {
  TransferFailure f;
  f.code = CURLE_OPERATION_TIMEDOUT;
  f.pool_key = "http://a.test:80";
  f.url = "http://a.test/slow";
  f.connected = connected;
  f.speed_floor = speed_floor;
  f.speed_window = absl::Seconds(10);
  f.body_bytes = 42;
  return f;
}

TEST(TransferFailureToStatusTest, SpeedFloorIsToldApartFromTimeouts) {
  absl::Status slow = TransferFailureToStatus(TimedOut(/*connected=*/true, 1024));
  EXPECT_EQ(ReasonOf(slow), "UPSTREAM_TOO_SLOW");
  EXPECT_EQ(slow.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(slow.message(),
                                "stayed under 1024 bytes/s for 10s (--min_transfer_speed, "
                                "--min_transfer_speed_window) after 42 body bytes"))
      << slow;
  // Before the connection is up, it is the connect timeout.
  EXPECT_EQ(ReasonOf(TransferFailureToStatus(TimedOut(false, 1024))), "CONNECT_TIMEOUT");
  // With the floor off, a timeout is a timeout.
  EXPECT_EQ(ReasonOf(TransferFailureToStatus(TimedOut(true, 0))), "DEADLINE_EXCEEDED");
}

TEST(TransferFailureToStatusTest, HeaderCapNamesTheCapAndTheUrl) {
  TransferFailure f;
  f.code = CURLE_WRITE_ERROR;
  f.url = "http://a.test/h";
  f.header_limit = "response headers exceeded 65536 bytes (--max_response_header_bytes)";
  absl::Status s = TransferFailureToStatus(f);
  EXPECT_EQ(ReasonOf(s), "RESPONSE_HEADERS_TOO_LARGE");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "response headers exceeded 65536 bytes (--max_response_header_bytes) from "
            "http://a.test/h");
  // The body limit is still its own reason.
  f.header_limit.clear();
  f.too_large = true;
  f.body_limit = 10;
  EXPECT_EQ(ReasonOf(TransferFailureToStatus(f)), "RESPONSE_TOO_LARGE");
}

}  // namespace
}  // namespace fetchpool
