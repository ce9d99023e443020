#include "engine/fetch_decisions.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/reason.h"
#include "engine/url.h"

namespace fetchpool {

bool ShouldReplay(const AttemptOutcome& a) {
  return !a.ok && (a.stale_error || a.died_after_request) && a.reused && !a.any_response_byte &&
         a.replayable && a.attempts == 1;
}

ExchangeEnd ConnectionEnd(const AttemptOutcome& a, bool draining) {
  if (a.ok) return a.socket_open ? ExchangeEnd::kComplete : ExchangeEnd::kCompleteClosed;
  if (draining || a.too_large) return ExchangeEnd::kAborted;
  if (ShouldReplay(a)) return ExchangeEnd::kStale;
  return ExchangeEnd::kFailed;
}

namespace {

// The scheme of an absolute reference (RFC 3986: ALPHA *( ALPHA / DIGIT /
// "+" / "-" / "." ) ":"), or nullopt for a relative one ("/x", "x", "//h/").
absl::optional<absl::string_view> LocationScheme(absl::string_view location) {
  location = absl::StripLeadingAsciiWhitespace(location);
  const size_t colon = location.find(':');
  if (colon == 0 || colon == absl::string_view::npos) return absl::nullopt;
  const absl::string_view scheme = location.substr(0, colon);
  if (!absl::ascii_isalpha(static_cast<unsigned char>(scheme[0]))) return absl::nullopt;
  for (char c : scheme) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return absl::nullopt;
    }
  }
  return scheme;
}

}  // namespace

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

RedirectStep DecideRedirect(const FetchSpec& spec, int status, const HeaderList& headers,
                            uint32_t redirects) {
  RedirectStep step;
  std::string location;
  for (const auto& [name, value] : headers) {
    if (absl::EqualsIgnoreCase(name, "location")) location = value;
  }
  if (location.empty()) {
    step.kind = RedirectStep::Kind::kAnswer;
    return step;
  }
  if (redirects >= spec.max_redirects) {
    step.kind = RedirectStep::Kind::kError;
    step.error = MakeError(Reason::kTooManyRedirects,
                           absl::StrCat("more than ", spec.max_redirects, " redirects from ",
                                        spec.url));
    return step;
  }
  // A Location naming another scheme (file:, gopher:, dict:, ...) is a
  // destination fetchpool never reaches: refused like a denied address, so a
  // caller sees the SSRF attempt for what it is rather than a protocol error.
  if (absl::optional<absl::string_view> scheme = LocationScheme(location);
      scheme.has_value() && !absl::EqualsIgnoreCase(*scheme, "http") &&
      !absl::EqualsIgnoreCase(*scheme, "https")) {
    step.kind = RedirectStep::Kind::kError;
    step.error = MakeError(Reason::kDestinationDenied,
                           absl::StrCat("redirect from ", spec.url, " to ",
                                        QuoteForMessage(location), " not followed: scheme ",
                                        QuoteForMessage(*scheme),
                                        " is never fetched; only http:// and https://"));
    return step;
  }
  absl::StatusOr<std::string> absolute = ResolveUrl(spec.url, location);
  absl::StatusOr<HttpUrl> next =
      absolute.ok() ? ParseHttpUrl("Location", *absolute) : absolute.status();
  if (!next.ok()) {
    step.kind = RedirectStep::Kind::kError;
    step.error = MakeError(Reason::kProtocolError,
                           absl::StrCat("redirect from ", spec.url,
                                        " to an unusable location: ", next.status().message()));
    return step;
  }
  step.kind = RedirectStep::Kind::kFollow;
  step.url = next->url;
  step.pool_key = next->pool_key;
  step.method = spec.method;
  // 303, and 301/302 after a POST (what browsers and curl do), become GET.
  if (status == 303 || ((status == 301 || status == 302) && spec.method == "POST")) {
    if (spec.method != "HEAD") step.method = "GET";
    step.drop_body = true;
  }
  return step;
}

absl::optional<absl::Duration> ParseKeepAliveTimeout(absl::string_view value) {
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, "timeout=")) {
      int64_t seconds = 0;
      if (absl::SimpleAtoi(part, &seconds) && seconds >= 0) return absl::Seconds(seconds);
    }
  }
  return absl::nullopt;
}

}  // namespace fetchpool
