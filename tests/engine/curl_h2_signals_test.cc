// The verbose lines of libcurl 7.88.1 that carry HTTP/2 news it has no API
// for (engine/curl_h2_signals.h). The strings are copied from the library
// Debian 12 ships (strings libcurl.so.4 | grep ...): if a libcurl upgrade
// rewords them, these tests say so.
#include "engine/curl_h2_signals.h"

#include "gtest/gtest.h"

namespace fetchpool {
namespace {

TEST(CurlH2SignalsTest, RefusedStreamRetry) {
  EXPECT_EQ(ParseCurlText("REFUSED_STREAM, retrying a fresh connect\n").signal,
            CurlH2Signal::kRefusedStream);
}

TEST(CurlH2SignalsTest, GoAwayAsSpeltBy788WithItsLastStreamId) {
  CurlH2Event e = ParseCurlText("recveived GOAWAY, error=0, last_stream=19\n");
  EXPECT_EQ(e.signal, CurlH2Signal::kGoAway);
  EXPECT_EQ(e.number, 19u);
  e = ParseCurlText("received GOAWAY, error=2, last_stream=0\n");
  EXPECT_EQ(e.signal, CurlH2Signal::kGoAway);
  EXPECT_EQ(e.number, 0u);
  // Without a last-stream-id it tells nothing usable.
  EXPECT_EQ(ParseCurlText("recveived GOAWAY, error=0\n").signal, CurlH2Signal::kNone);
}

TEST(CurlH2SignalsTest, StreamId) {
  CurlH2Event e = ParseCurlText("Using Stream ID: 21 (easy handle 0x7fc92800f8d0)\n");
  EXPECT_EQ(e.signal, CurlH2Signal::kStreamId);
  EXPECT_EQ(e.number, 21u);
  EXPECT_EQ(ParseCurlText("Using Stream ID: x (easy handle 0x1)\n").signal, CurlH2Signal::kNone);
}

TEST(CurlH2SignalsTest, OriginStreamLimit) {
  CurlH2Event e = ParseCurlText("MAX_CONCURRENT_STREAMS reached, skip (8)\n");
  EXPECT_EQ(e.signal, CurlH2Signal::kOriginStreamLimit);
  EXPECT_EQ(e.number, 8u);
  // curl's own cap (CURLMOPT_MAX_CONCURRENT_STREAMS) is not the origin's.
  EXPECT_EQ(ParseCurlText("client side MAX_CONCURRENT_STREAMS reached, skip (100)\n").signal,
            CurlH2Signal::kNone);
  EXPECT_EQ(ParseCurlText("MAX_CONCURRENT_STREAMS reached, skip (x)\n").signal,
            CurlH2Signal::kNone);
  EXPECT_EQ(ParseCurlText("MAX_CONCURRENT_STREAMS reached, skip (8\n").signal,
            CurlH2Signal::kNone);
}

TEST(CurlH2SignalsTest, UploadDone) {
  EXPECT_EQ(ParseCurlText("We are completely uploaded and fine\n").signal,
            CurlH2Signal::kUploadDone);
}

TEST(CurlH2SignalsTest, OrdinaryLinesAreNothing) {
  for (const char* line :
       {"", "R", "Connected to 127.0.0.1 (127.0.0.1) port 443 (#0)\n",
        "Using HTTP2, server supports multiplexing\n", "Re-using existing connection #0\n",
        "Connection died, retrying a fresh connect (retry count: 1)\n",
        "Multiplexed connection found\n", "REFUSED\n", "Using Stream\n"}) {
    EXPECT_EQ(ParseCurlText(line).signal, CurlH2Signal::kNone) << line;
  }
}

}  // namespace
}  // namespace fetchpool
