#include "server/trace_context.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fetchpool {
namespace {

constexpr size_t kV00Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
// The spec lets vendors drop a tracestate longer than 512 characters.
constexpr size_t kMaxTracestate = 512;

bool IsLowerHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool AllZero(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

// `bytes` random bytes as lower-case hex, never all zero (invalid ids).
std::string RandomHexId(size_t bytes, absl::BitGenRef random) {
  std::string out;
  do {
    out.clear();
    for (size_t i = 0; i < bytes; ++i) {
      absl::StrAppend(&out, absl::Hex(absl::Uniform<uint8_t>(random), absl::kZeroPad2));
    }
  } while (AllZero(out));
  return out;
}

// Printable ASCII only: a tracestate with control characters could split
// the request header.
bool AcceptableTracestate(absl::string_view s) {
  return s.size() <= kMaxTracestate &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

// One table for both directions, so a name cannot be parsed but not printed.
constexpr std::pair<TracePropagation, absl::string_view> kModeNames[] = {
    {TracePropagation::kOff, "off"},
    {TracePropagation::kForward, "forward"},
    {TracePropagation::kStart, "start"},
};

absl::StatusOr<TracePropagation> ParseTracePropagation(absl::string_view text) {
  for (const auto& [mode, name] : kModeNames) {
    if (text == name) return mode;
  }
  return absl::InvalidArgumentError(absl::StrCat("trace_propagation is \"", absl::CHexEscape(text),
                                                 "\"; it must be off, forward or start"));
}

std::string TracePropagationName(TracePropagation mode) {
  for (const auto& [m, name] : kModeNames) {
    if (m == mode) return std::string(name);
  }
  return "forward";
}

absl::optional<TraceParent> ParseTraceparent(absl::string_view value) {
  if (value.size() < kV00Length) return absl::nullopt;
  const absl::string_view version = value.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return absl::nullopt;
  if (version == "00" && value.size() != kV00Length) return absl::nullopt;
  if (value.size() > kV00Length && value[kV00Length] != '-') return absl::nullopt;
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return absl::nullopt;
  TraceParent out;
  const absl::string_view trace_id = value.substr(3, 32);
  const absl::string_view parent_id = value.substr(36, 16);
  const absl::string_view flags = value.substr(53, 2);
  if (!IsLowerHex(trace_id) || AllZero(trace_id)) return absl::nullopt;
  if (!IsLowerHex(parent_id) || AllZero(parent_id)) return absl::nullopt;
  if (!IsLowerHex(flags)) return absl::nullopt;
  out.trace_id = std::string(trace_id);
  out.parent_id = std::string(parent_id);
  out.flags = std::string(flags);
  return out;
}

UpstreamTrace PlanUpstreamTrace(TracePropagation mode,
                                const absl::optional<std::string>& traceparent,
                                int traceparent_count,
                                const absl::optional<std::string>& tracestate,
                                absl::BitGenRef random) {
  UpstreamTrace out;
  if (mode == TracePropagation::kOff) return out;
  absl::optional<TraceParent> parent;
  if (traceparent.has_value() && traceparent_count == 1) parent = ParseTraceparent(*traceparent);
  if (parent.has_value()) {
    out.trace_id = parent->trace_id;
    // We write version 00, the only one we know: a higher version's extra
    // fields are not ours to repeat.
    out.traceparent =
        absl::StrCat("00-", parent->trace_id, "-", RandomHexId(8, random), "-", parent->flags);
    if (tracestate.has_value() && AcceptableTracestate(*tracestate)) out.tracestate = *tracestate;
    return out;
  }
  if (mode != TracePropagation::kStart) return out;
  out.trace_id = RandomHexId(16, random);
  out.traceparent = absl::StrCat("00-", out.trace_id, "-", RandomHexId(8, random), "-00");
  return out;
}

void ApplyUpstreamTrace(TracePropagation mode, UpstreamTrace trace, FetchSpec* spec) {
  if (mode == TracePropagation::kOff) return;
  HeaderList& headers = spec->headers;
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [](const auto& h) {
                                 return absl::EqualsIgnoreCase(h.first, "traceparent") ||
                                        absl::EqualsIgnoreCase(h.first, "tracestate");
                               }),
                headers.end());
  spec->traceparent = std::move(trace.traceparent);
  spec->tracestate = std::move(trace.tracestate);
  spec->trace_id = std::move(trace.trace_id);
}

void TraceFetch(const CallerTrace& caller, FetchSpec* spec) {
  if (caller.mode == TracePropagation::kOff) return;  // no random numbers drawn
  thread_local absl::BitGen random;
  ApplyUpstreamTrace(caller.mode,
                     PlanUpstreamTrace(caller.mode, caller.traceparent, caller.traceparent_count,
                                       caller.tracestate, random),
                     spec);
}

}  // namespace fetchpool
