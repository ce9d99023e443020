#ifndef FETCHPOOL_ENGINE_HTTP_EXCHANGE_H_
#define FETCHPOOL_ENGINE_HTTP_EXCHANGE_H_

// One HTTP exchange on a pooled curl connection: the curl options of a
// request, the header and body callbacks that receive its response, and
// the post-mortem that turns what curl says into plain structs for the
// decisions (engine/fetch_decisions.h). Loop thread only.

#include <curl/curl.h>

#include <cstdint>
#include <string>

#include "engine/curl_connection.h"
#include "engine/curl_errors.h"
#include "engine/fetch_config.h"
#include "engine/fetch_decisions.h"
#include "engine/fetch_types.h"

namespace fetchpool {

// Told, from inside curl's body callback, that the response outgrew the
// caller's limit. True: keep reading and throw the rest away (a drain, the
// caller answered already); false: let curl abort the transfer.
class OversizeHandler {
 public:
  virtual bool OnBodyOverLimit() = 0;

 protected:
  ~OversizeHandler() = default;
};

// The response of one attempt, as it arrives.
struct ExchangeState {
  OversizeHandler* oversize = nullptr;
  FetchResult* result = nullptr;  // status, headers, body, http version
  uint64_t body_limit = 0;        // the caller's limit; the drain budget while draining
  bool draining = false;          // the caller was answered; bytes are thrown away
  uint64_t bytes_received = 0;    // body bytes, kept or discarded
  bool any_response_byte = false;
  bool too_large = false;
  bool over_budget = false;       // the body could not be reserved (BufferBudget)
  uint64_t declared_length = 0;   // Content-Length of the final response, if any
  std::string keep_alive_header;
  // Hostile origins (FetchConfig; set by ConfigureExchange). Header lines
  // and bytes are counted over the final response and every 1xx before it;
  // past a cap the header callback makes curl abort and says why here.
  uint32_t max_header_bytes = 0;
  uint32_t max_headers = 0;
  uint64_t header_bytes = 0;   // every line, status lines and CRLFs included
  uint32_t header_lines = 0;   // header fields only
  std::string header_limit;    // set when a cap ended the transfer
  uint64_t speed_floor = 0;    // bytes/s; 0: off
  absl::Duration speed_window;

  // Forgets what an attempt received (before a replay or a redirect).
  void Reset() {
    header_bytes = 0;
    header_lines = 0;
    header_limit.clear();
    bytes_received = 0;
    any_response_byte = false;
    too_large = false;
    over_budget = false;
    declared_length = 0;
    keep_alive_header.clear();
    draining = false;
  }
};

// Sets `stream`'s options for `spec` (its method, headers, body, callbacks
// into `state`). `shared`: the stream joins a multiplexed connection other
// streams use (Lease::shared). `header_list` keeps curl's copy of the
// headers across attempts of one fetch; the caller frees it.
void ConfigureExchange(CurlStream& stream, bool shared, const FetchSpec& spec,
                       const FetchConfig& config, ExchangeState* state,
                       curl_slist** header_list);

// What a finished transfer left behind.
struct ExchangeReport {
  AttemptOutcome attempt;
  // curl dialled again inside a slot whose cached connection it found dead.
  bool connection_replaced = false;
  TransferFailure failure;  // set when !attempt.ok
  FetchTimings timings;     // dns, connect, tls, first_byte of this attempt
  std::string remote_address;  // "1.2.3.4:80", "[::1]:443"
};
// Reads `stream` after its transfer ended with `code` (before
// FinishTransfer). attempt.socket_open is left for the caller to read
// after FinishTransfer, when curl has closed a connection it will not keep.
ExchangeReport ExamineExchange(CurlStream& stream, CURLcode code, const ExchangeState& state,
                               const FetchSpec& spec, bool lease_was_fresh, uint32_t attempts);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_HTTP_EXCHANGE_H_
