#include "engine/http_exchange.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fetchpool {
namespace {

// Counts one header line (`n` bytes as received) against the caps; false,
// with the reason in state->header_limit, when it goes over one. curl 7.88
// in Debian 12 has the CVE-2023-38039 backport (300 KB per transfer); ours
// is tighter and per host.
bool CountHeaderLine(ExchangeState* state, absl::string_view line, size_t n) {
  state->header_bytes += n;
  if (!line.empty() && !absl::StartsWith(line, "HTTP/")) ++state->header_lines;
  if (state->header_bytes > state->max_header_bytes) {
    state->header_limit = absl::StrCat("response headers exceeded ", state->max_header_bytes,
                                       " bytes (--max_response_header_bytes)");
    return false;
  }
  if (state->header_lines > state->max_headers) {
    state->header_limit = absl::StrCat("response had more than ", state->max_headers,
                                       " header lines (--max_response_headers)");
    return false;
  }
  return true;
}

size_t OnHeaderLine(char* buffer, size_t size, size_t count, void* userdata) {
  auto* state = static_cast<ExchangeState*>(userdata);
  FetchResult& result = *state->result;
  const size_t n = size * count;
  state->any_response_byte = true;
  absl::string_view line(buffer, n);
  line = absl::StripTrailingAsciiWhitespace(line);
  if (!CountHeaderLine(state, line, n)) return 0;  // curl aborts: CURLE_WRITE_ERROR
  if (absl::StartsWith(line, "HTTP/")) {
    // A new status line: an interim 1xx response may have come before.
    result.headers.clear();
    state->keep_alive_header.clear();
    state->declared_length = 0;
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    result.http_version = std::string(parts[0]);
    int status = 0;
    if (parts.size() > 1 && absl::SimpleAtoi(parts[1], &status)) result.status = status;
    return n;
  }
  if (line.empty()) {
    // End of a header block. For the final response, a declared body over
    // the limit is refused now rather than after downloading it.
    if (result.status >= 200 && state->declared_length > state->body_limit && !state->draining) {
      state->too_large = true;
      return state->oversize->OnBodyOverLimit() ? n : 0;
    }
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return n;
  absl::string_view name = line.substr(0, colon);
  absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (absl::EqualsIgnoreCase(name, "keep-alive")) state->keep_alive_header = std::string(value);
  if (absl::EqualsIgnoreCase(name, "content-length")) {
    uint64_t length = 0;
    if (absl::SimpleAtoi(value, &length)) state->declared_length = length;
  }
  result.headers.emplace_back(std::string(name), std::string(value));
  return n;
}

// The smallest step a body of unknown length grows its reservation by.
constexpr uint64_t kMinBodyReservation = 64 * 1024;

// Reserves from the buffer budget what `body` needs to hold `needed` bytes,
// and sizes the string to it, so the bytes counted are the bytes allocated
// (std::string's own doubling would allocate up to twice what it holds).
// A declared Content-Length is reserved whole at the first byte; a body of
// unknown length doubles (at least 64 KiB), capped by the caller's limit.
// False: the budget cannot give even `needed`.
bool ReserveBody(ExchangeState* state, std::string& body, uint64_t needed) {
  BufferReservation& held = state->result->buffer;
  if (needed <= held.bytes()) return true;
  uint64_t target = needed;
  if (state->declared_length >= needed && state->declared_length <= state->body_limit) {
    target = state->declared_length;
  } else {
    target = std::max(needed, std::min<uint64_t>(state->body_limit,
                                                 std::max(2 * held.bytes(), kMinBodyReservation)));
  }
  if (!held.GrowTo(target)) {
    if (target == needed || !held.GrowTo(needed)) return false;
    target = needed;
  }
  body.reserve(target);
  return true;
}

size_t OnBodyBytes(char* buffer, size_t size, size_t count, void* userdata) {
  auto* state = static_cast<ExchangeState*>(userdata);
  const size_t n = size * count;
  state->any_response_byte = true;
  state->bytes_received += n;
  if (state->draining) {
    // body_limit is the drain budget here: past it the connection is not
    // worth keeping, and returning 0 makes curl close it.
    return state->bytes_received > state->body_limit ? 0 : n;
  }
  std::string& body = state->result->body;
  if (body.size() + n > state->body_limit) {
    state->too_large = true;
    return state->oversize->OnBodyOverLimit() ? n : 0;
  }
  if (!ReserveBody(state, body, body.size() + n)) {
    // Failed, not truncated: returning 0 makes curl abort the transfer,
    // and the runner answers BUFFER_BUDGET_EXCEEDED.
    state->over_budget = true;
    return 0;
  }
  body.append(buffer, n);
  return n;
}

absl::Duration MicrosInfo(CURL* easy, CURLINFO info) {
  curl_off_t us = 0;
  curl_easy_getinfo(easy, info, &us);
  return absl::Microseconds(us);
}

}  // namespace

void ConfigureExchange(CurlStream& conn, bool shared, const FetchSpec& spec,
                       const FetchConfig& config, ExchangeState* state,
                       curl_slist** header_list) {
  conn.PrepareTransfer(config.connect_timeout, shared);
  conn.ConfigureTls(config);
  conn.ConfigureHttpVersion(config.http_version);
  CURL* easy = conn.easy();
  curl_easy_setopt(easy, CURLOPT_URL, spec.url.c_str());
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeaderLine);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, state);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBodyBytes);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, state);
  state->max_header_bytes = config.max_response_header_bytes;
  state->max_headers = config.max_response_headers;
  // The speed floor: curl measures it (both directions, waiting for the
  // first byte included) and ends the transfer with CURLE_OPERATION_TIMEDOUT.
  // 0/0 turns it off. See TransferFailure::speed_floor for how it is told
  // apart from a timeout.
  state->speed_floor = config.min_transfer_speed;
  state->speed_window = config.min_transfer_speed_window;
  const bool floor = config.min_transfer_speed > 0;
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT,
                   floor ? static_cast<long>(config.min_transfer_speed) : 0L);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME,
                   floor ? static_cast<long>(absl::ToInt64Seconds(config.min_transfer_speed_window))
                         : 0L);
  const bool sends_body = !spec.body.empty() || spec.method == "POST" || spec.method == "PUT" ||
                          spec.method == "PATCH";
  conn.set_sends_body(!spec.body.empty());
  if (sends_body) {
    // Makes curl send a POST unless CUSTOMREQUEST below names the method.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(spec.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, spec.body.data());
  }
  // Methods keep the caller's case, but any spelling of HEAD has no body
  // to wait for.
  const bool head = absl::EqualsIgnoreCase(spec.method, "HEAD");
  if (head) curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  const char* natural = sends_body ? "POST" : (head ? "HEAD" : "GET");
  if (spec.method != natural) curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, spec.method.c_str());
  if (*header_list == nullptr) {
    // Never wait for "100 Continue": it costs a round trip per request.
    *header_list = curl_slist_append(nullptr, "Expect:");
    for (const auto& [name, value] : spec.headers) {
      // "Name;" is curl's way to send a header with an empty value.
      const std::string line =
          value.empty() ? absl::StrCat(name, ";") : absl::StrCat(name, ": ", value);
      *header_list = curl_slist_append(*header_list, line.c_str());
    }
    if (!spec.traceparent.empty()) {
      *header_list = curl_slist_append(
          *header_list, absl::StrCat("traceparent: ", spec.traceparent).c_str());
    }
    if (!spec.tracestate.empty()) {
      *header_list = curl_slist_append(
          *header_list, absl::StrCat("tracestate: ", spec.tracestate).c_str());
    }
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, *header_list);
}

ExchangeReport ExamineExchange(CurlStream& conn, CURLcode code, const ExchangeState& state,
                               const FetchSpec& spec, bool lease_was_fresh, uint32_t attempts) {
  ExchangeReport report;
  CURL* easy = conn.easy();
  const bool opened_socket = conn.sockets_opened_this_transfer() > 0;
  // curl found the cached connection dead and dialled again inside this slot.
  report.connection_replaced = opened_socket && !lease_was_fresh;
  AttemptOutcome& a = report.attempt;
  a.ok = code == CURLE_OK;
  // HTTP/2: libcurl 7.88 ends a stream that the origin's close cut off
  // before any of its response with CURLE_PARTIAL_FILE ("HTTP/2 stream N
  // was not closed cleanly before end of the underlying stream") where
  // HTTP/1.1 says CURLE_GOT_NOTHING. It is the same empty reply, so the same
  // rules: a safe request is sent again once, a POST is not (the origin may
  // have processed it: a stream at or below a GOAWAY's last-stream-id).
  const bool h2_cut_off = code == CURLE_PARTIAL_FILE && !state.any_response_byte &&
                          conn.connection().multiplexed();
  a.stale_error = IsStaleConnectionError(code) || h2_cut_off;
  // The reused connection died after our request went out, before any
  // response (libcurl's own replay was refused: CurlConnection::OnOpenSocket).
  a.died_after_request = conn.reconnect_refused();
  // HTTP/2: the origin never processed the stream (curl said
  // REFUSED_STREAM), or the stream wanted a connection of its own before
  // its request went out and was refused (CurlStream::OnOpenSocket).
  a.never_processed = conn.refused_stream() || conn.own_connection_refused();
  a.reused = !opened_socket;
  a.origin_going_away = conn.connection().goaway_seen();
  a.any_response_byte = state.any_response_byte;
  a.too_large = state.too_large;
  a.replayable = spec.replayable;
  a.attempts = attempts;

  // Timings (curl's are cumulative from the start of this attempt).
  const absl::Duration lookup = MicrosInfo(easy, CURLINFO_NAMELOOKUP_TIME_T);
  const absl::Duration connect = MicrosInfo(easy, CURLINFO_CONNECT_TIME_T);
  const absl::Duration app = MicrosInfo(easy, CURLINFO_APPCONNECT_TIME_T);
  const absl::Duration pre = MicrosInfo(easy, CURLINFO_PRETRANSFER_TIME_T);
  const absl::Duration start = MicrosInfo(easy, CURLINFO_STARTTRANSFER_TIME_T);
  FetchTimings& t = report.timings;
  t.dns = lookup;
  t.connect = connect > lookup ? connect - lookup : absl::ZeroDuration();
  t.tls = app > connect ? app - connect : absl::ZeroDuration();
  t.first_byte = start > pre ? start - pre : absl::ZeroDuration();
  char* ip = nullptr;
  long port = 0;
  curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip);
  curl_easy_getinfo(easy, CURLINFO_PRIMARY_PORT, &port);
  if (ip != nullptr && ip[0] != '\0') {
    report.remote_address =
        std::strchr(ip, ':') ? absl::StrCat("[", ip, "]:", port) : absl::StrCat(ip, ":", port);
  }

  if (!a.ok) {
    TransferFailure& f = report.failure;
    // Without the refusal curl would have said "empty reply" or "recv failure".
    f.code = a.died_after_request || a.never_processed || h2_cut_off ? CURLE_GOT_NOTHING : code;
    f.pool_key = spec.pool_key;
    f.url = spec.url;
    f.policy_denial = conn.policy_denial();
    f.socket_errno = conn.socket_errno();
    f.curl_detail = conn.refused_stream()
                        ? "the origin refused the HTTP/2 stream (REFUSED_STREAM or GOAWAY)"
                        : conn.own_connection_refused()
                              ? "the HTTP/2 connection took no new stream (GOAWAY or the "
                                "origin's stream limit)"
                              : a.died_after_request
                                    ? "the origin closed the reused connection without a response"
                                    : conn.error_detail();
    f.connected = pre > absl::ZeroDuration() || a.reused;
    f.reused_connection = a.reused;
    f.body_bytes = state.bytes_received;
    f.body_limit = state.body_limit;
    f.too_large = state.too_large;
    f.header_limit = state.header_limit;
    f.speed_floor = state.speed_floor;
    f.speed_window = state.speed_window;
    curl_easy_getinfo(easy, CURLINFO_SSL_VERIFYRESULT, &f.tls_verify_result);
  }
  return report;
}

}  // namespace fetchpool
