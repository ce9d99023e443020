#ifndef FETCHPOOL_ENGINE_CURL_H2_SIGNALS_H_
#define FETCHPOOL_ENGINE_CURL_H2_SIGNALS_H_

// What libcurl 7.88 tells about an HTTP/2 connection only in its verbose
// text. It has no API saying that the origin sent GOAWAY or that a stream
// was refused (RST_STREAM REFUSED_STREAM, or closed by nghttp2 because its
// id is above a GOAWAY's last-stream-id): the only trace is an infof()
// line, delivered to CURLOPT_DEBUGFUNCTION as CURLINFO_TEXT when
// CURLOPT_VERBOSE is on. The engine turns verbose on for hosts whose
// http_version is not http1.1 (CurlStream) and reads those lines here.
//
// The texts are libcurl 7.88.1's (lib/http2.c, lib/transfer.c), pinned by
// tests/engine/curl_h2_signals_test.cc; "recveived" is spelt that way in
// 7.88. A newer libcurl that words them otherwise makes those tests (and
// the GOAWAY replay test) fail rather than silently lose the signal.

#include <cstdint>

#include "absl/strings/string_view.h"

namespace fetchpool {

enum class CurlH2Signal {
  kNone,
  // "REFUSED_STREAM, retrying a fresh connect" (transfer.c,
  // Curl_retry_request): the origin never processed this transfer's
  // stream, so it may be sent again whatever its method.
  kRefusedStream,
  // "recveived GOAWAY, error=0, last_stream=N": the origin starts no new
  // stream on this connection.
  kGoAway,
  // "MAX_CONCURRENT_STREAMS reached, skip (N)" (url.c, ConnectionExists):
  // the origin's SETTINGS_MAX_CONCURRENT_STREAMS is N, lower than the
  // streams the pool put on the connection; curl wants another connection.
  kOriginStreamLimit,
};

// Classifies one CURLINFO_TEXT chunk (curl's line, with its newline).
CurlH2Signal ClassifyCurlText(absl::string_view text);

// The N of a kOriginStreamLimit line; 0 when there is none.
uint32_t OriginStreamLimitOf(absl::string_view text);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_CURL_H2_SIGNALS_H_
