#include "engine/curl_h2_signals.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace fetchpool {
namespace {
constexpr absl::string_view kStreamLimit = "MAX_CONCURRENT_STREAMS reached, skip (";
}  // namespace

CurlH2Signal ClassifyCurlText(absl::string_view text) {
  // Cheap first: almost every line is none of these.
  if (text.size() < 14) return CurlH2Signal::kNone;
  switch (text[0]) {
    case 'R':
      if (absl::StartsWith(text, "REFUSED_STREAM")) return CurlH2Signal::kRefusedStream;
      break;
    case 'r':
      // 7.88.1 spells it "recveived"; a corrected spelling is taken too.
      if (absl::StartsWith(text, "recveived GOAWAY") || absl::StartsWith(text, "received GOAWAY")) {
        return CurlH2Signal::kGoAway;
      }
      break;
    case 'M':
      // Not "client side MAX_CONCURRENT_STREAMS": that is curl's own cap.
      if (absl::StartsWith(text, kStreamLimit)) return CurlH2Signal::kOriginStreamLimit;
      break;
  }
  return CurlH2Signal::kNone;
}

uint32_t OriginStreamLimitOf(absl::string_view text) {
  if (!absl::StartsWith(text, kStreamLimit)) return 0;
  text.remove_prefix(kStreamLimit.size());
  const size_t close = text.find(')');
  if (close == absl::string_view::npos) return 0;
  uint32_t n = 0;
  if (!absl::SimpleAtoi(text.substr(0, close), &n)) return 0;
  return n;
}

}  // namespace fetchpool
