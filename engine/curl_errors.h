#ifndef FETCHPOOL_ENGINE_CURL_ERRORS_H_
#define FETCHPOOL_ENGINE_CURL_ERRORS_H_

#include <curl/curl.h>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fetchpool {

// What was known when a transfer failed, for a message a person can act on.
struct TransferFailure {
  CURLcode code = CURLE_OK;
  std::string pool_key;      // "http://api:80"
  std::string url;
  std::string curl_detail;   // curl's error buffer
  std::string policy_denial; // set when the destination policy refused the address
  int socket_errno = 0;      // set when fetchpoold itself could not open a socket
  bool connected = false;
  bool reused_connection = false;
  uint64_t body_bytes = 0;
  uint64_t body_limit = 0;
  bool too_large = false;
  // Set when a response header cap ended the transfer (the header
  // callback's reason, naming the cap and its flag).
  std::string header_limit;
  // The speed floor the transfer ran with (bytes/s, 0: off) and its window.
  // fetchpool never sets CURLOPT_TIMEOUT (its own timers enforce deadlines),
  // so once connected the only source of CURLE_OPERATION_TIMEDOUT is curl's
  // low-speed check (CURLOPT_LOW_SPEED_LIMIT/TIME); the connect timeout
  // fires before `connected`. The error buffer ("Operation too slow") is
  // not relied on: its wording is not part of curl's API.
  uint64_t speed_floor = 0;
  absl::Duration speed_window;
  // CURLINFO_SSL_VERIFYRESULT: the X509 verification result (0: X509_V_OK).
  long tls_verify_result = 0;
};

// Maps a failed transfer to a status with a stable reason (common/reason.h):
// refused/reset/DNS/truncated are UNAVAILABLE, size limit RESOURCE_EXHAUSTED,
// policy PERMISSION_DENIED, request timeout DEADLINE_EXCEEDED.
absl::Status TransferFailureToStatus(const TransferFailure& failure);

// True for failures that can happen when a reused connection was already
// dead (the origin closed it while our request was in flight): such a
// request may be replayed once on a fresh connection if it is replayable
// and no response byte arrived.
bool IsStaleConnectionError(CURLcode code);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_CURL_ERRORS_H_
