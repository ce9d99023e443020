#ifndef FETCHPOOL_ENGINE_CURL_H2_SIGNALS_H_
#define FETCHPOOL_ENGINE_CURL_H2_SIGNALS_H_

// What libcurl 7.88 tells about an HTTP/2 connection only in its verbose
// text. It has no API saying that the origin sent GOAWAY (nor its
// last-stream-id), which stream id a transfer got, or that a stream was
// refused: the only trace is an infof() line, delivered to
// CURLOPT_DEBUGFUNCTION as CURLINFO_TEXT when CURLOPT_VERBOSE is on. The
// engine turns verbose on for hosts whose http_version is not http1.1
// (CurlStream::ConfigureHttpVersion) and reads those lines here.
//
// Why the stream id matters: RFC 9113 section 6.8, a stream above a
// GOAWAY's last-stream-id was never processed and may be sent again
// whatever its method. curl 7.88 retries such a stream itself (its
// Curl_retry_request), but on a reused connection it words that "Connection
// died, retrying a fresh connect" like any dead connection: only "REFUSED_
// STREAM, retrying a fresh connect" on the connection's first transfer
// names the refusal. So the engine compares the stream's id with the
// GOAWAY's last-stream-id itself.
//
// The texts are libcurl 7.88.1's (lib/http2.c, lib/transfer.c, lib/url.c),
// pinned by tests/engine/curl_h2_signals_test.cc; "recveived" is spelt that
// way in 7.88. A libcurl that words them otherwise makes those tests (and
// the GOAWAY replay test) fail rather than silently lose the signal.

#include <cstdint>

#include "absl/strings/string_view.h"

namespace fetchpool {

enum class CurlH2Signal {
  kNone,
  // "REFUSED_STREAM, retrying a fresh connect" (transfer.c,
  // Curl_retry_request): the origin never processed this transfer's
  // stream.
  kRefusedStream,
  // "recveived GOAWAY, error=0, last_stream=N": the origin starts no new
  // stream on this connection; streams above N were never processed.
  kGoAway,
  // "Using Stream ID: N (easy handle 0x...)": this transfer's stream id.
  kStreamId,
  // "MAX_CONCURRENT_STREAMS reached, skip (N)" (url.c, ConnectionExists):
  // the origin's SETTINGS_MAX_CONCURRENT_STREAMS is N, lower than the
  // streams the pool put on the connection; curl wants another connection.
  kOriginStreamLimit,
  // "We are completely uploaded and fine" (transfer.c): the request body
  // has been handed over whole.
  kUploadDone,
};

struct CurlH2Event {
  CurlH2Signal signal = CurlH2Signal::kNone;
  // kGoAway: the last-stream-id; kStreamId: the id; kOriginStreamLimit: N.
  uint32_t number = 0;
};

// Reads one CURLINFO_TEXT chunk (curl's line, with its newline). A line
// whose number does not parse is kNone.
CurlH2Event ParseCurlText(absl::string_view text);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_CURL_H2_SIGNALS_H_
