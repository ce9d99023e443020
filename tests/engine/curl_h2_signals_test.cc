// The verbose lines of libcurl 7.88.1 that carry HTTP/2 news it has no API
// for (engine/curl_h2_signals.h). The strings are copied from the library
// Debian 12 ships (strings libcurl.so.4 | grep ...): if a libcurl upgrade
// rewords them, these tests say so.
#include "engine/curl_h2_signals.h"

#include "gtest/gtest.h"

namespace fetchpool {
namespace {

TEST(CurlH2SignalsTest, RefusedStreamRetry) {
  EXPECT_EQ(ClassifyCurlText("REFUSED_STREAM, retrying a fresh connect\n"),
            CurlH2Signal::kRefusedStream);
}

TEST(CurlH2SignalsTest, GoAwayAsSpeltBy788) {
  EXPECT_EQ(ClassifyCurlText("recveived GOAWAY, error=0, last_stream=19\n"),
            CurlH2Signal::kGoAway);
  EXPECT_EQ(ClassifyCurlText("received GOAWAY, error=0, last_stream=19\n"),
            CurlH2Signal::kGoAway);
}

TEST(CurlH2SignalsTest, OriginStreamLimit) {
  const char* line = "MAX_CONCURRENT_STREAMS reached, skip (8)\n";
  EXPECT_EQ(ClassifyCurlText(line), CurlH2Signal::kOriginStreamLimit);
  EXPECT_EQ(OriginStreamLimitOf(line), 8u);
  // curl's own cap (CURLMOPT_MAX_CONCURRENT_STREAMS) is not the origin's.
  EXPECT_EQ(ClassifyCurlText("client side MAX_CONCURRENT_STREAMS reached, skip (100)\n"),
            CurlH2Signal::kNone);
  EXPECT_EQ(OriginStreamLimitOf("MAX_CONCURRENT_STREAMS reached, skip (x)\n"), 0u);
  EXPECT_EQ(OriginStreamLimitOf("MAX_CONCURRENT_STREAMS reached, skip (8\n"), 0u);
}

TEST(CurlH2SignalsTest, OrdinaryLinesAreNothing) {
  for (const char* line :
       {"", "R", "Connected to 127.0.0.1 (127.0.0.1) port 443 (#0)\n",
        "Using HTTP2, server supports multiplexing\n", "Re-using existing connection #0\n",
        "Connection died, retrying a fresh connect (retry count: 1)\n",
        "Multiplexed connection found\n", "REFUSED\n"}) {
    EXPECT_EQ(ClassifyCurlText(line), CurlH2Signal::kNone) << line;
  }
}

}  // namespace
}  // namespace fetchpool
