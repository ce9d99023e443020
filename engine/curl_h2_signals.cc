#include "engine/curl_h2_signals.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace fetchpool {
namespace {

constexpr absl::string_view kStreamLimit = "MAX_CONCURRENT_STREAMS reached, skip (";
constexpr absl::string_view kStreamId = "Using Stream ID: ";
constexpr absl::string_view kLastStream = "last_stream=";

// The decimal number at the start of `text`, up to the first non-digit.
bool LeadingNumber(absl::string_view text, uint32_t* out) {
  size_t n = 0;
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') ++n;
  return n > 0 && absl::SimpleAtoi(text.substr(0, n), out);
}

CurlH2Event Numbered(CurlH2Signal signal, absl::string_view number_at) {
  CurlH2Event event;
  if (LeadingNumber(number_at, &event.number)) event.signal = signal;
  return event;
}

}  // namespace

CurlH2Event ParseCurlText(absl::string_view text) {
  // Cheap first: almost every line is none of these.
  if (text.size() < 14) return {};
  switch (text[0]) {
    case 'R':
      if (absl::StartsWith(text, "REFUSED_STREAM")) return {CurlH2Signal::kRefusedStream, 0};
      break;
    case 'r':
      // 7.88.1 spells it "recveived"; a corrected spelling is taken too.
      if (absl::StartsWith(text, "recveived GOAWAY") || absl::StartsWith(text, "received GOAWAY")) {
        const size_t at = text.find(kLastStream);
        if (at == absl::string_view::npos) return {};
        return Numbered(CurlH2Signal::kGoAway, text.substr(at + kLastStream.size()));
      }
      break;
    case 'U':
      if (absl::StartsWith(text, kStreamId)) {
        return Numbered(CurlH2Signal::kStreamId, text.substr(kStreamId.size()));
      }
      break;
    case 'W':
      if (absl::StartsWith(text, "We are completely uploaded and fine")) {
        return {CurlH2Signal::kUploadDone, 0};
      }
      break;
    case 'M':
      // Not "client side MAX_CONCURRENT_STREAMS": that is curl's own cap.
      if (absl::StartsWith(text, kStreamLimit)) {
        absl::string_view rest = text.substr(kStreamLimit.size());
        if (rest.find(')') == absl::string_view::npos) return {};
        return Numbered(CurlH2Signal::kOriginStreamLimit, rest);
      }
      break;
  }
  return {};
}

}  // namespace fetchpool
