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
  if (!a.ok && a.never_processed && !a.any_response_byte) {
    return a.attempts < kMaxNeverProcessedAttempts;
  }
  return !a.ok && (a.stale_error || a.died_after_request) && (a.reused || a.origin_going_away) &&
         !a.any_response_byte && a.replayable && a.attempts == 1;
}

ExchangeEnd ConnectionEnd(const AttemptOutcome& a, bool draining) {
  if (a.ok) return a.socket_open ? ExchangeEnd::kComplete : ExchangeEnd::kCompleteClosed;
  if (draining || a.too_large) return ExchangeEnd::kAborted;
  if (a.never_processed && !a.any_response_byte) return ExchangeEnd::kAborted;
  if (ShouldReplay(a)) return ExchangeEnd::kStale;
  return ExchangeEnd::kFailed;
}

absl::Status KeepNeverSentPromise(absl::Status status, bool request_may_have_been_sent) {
  if (!request_may_have_been_sent) return status;
  const std::string reason = ReasonOf(status);
  if (reason != "SHUTTING_DOWN" && reason != "QUEUE_FULL") return status;
  return MakeError(Reason::kAbortedAfterSend,
                   absl::StrCat(status.message(),
                                " (after a request of this fetch had been sent to an origin, "
                                "so it is not safe to send again unless it is idempotent)"));
}

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string ExplicitScheme(absl::string_view location) {
  // RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
  if (location.empty() || !absl::ascii_isalpha(static_cast<unsigned char>(location[0]))) return "";
  for (size_t i = 1; i < location.size(); ++i) {
    const char c = location[i];
    if (c == ':') return absl::AsciiStrToLower(location.substr(0, i));
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return "";
    }
  }
  return "";
}

namespace {

bool IsCredentialHeader(absl::string_view name, absl::Span<const std::string> extra) {
  for (absl::string_view always : {"authorization", "cookie", "proxy-authorization"}) {
    if (absl::EqualsIgnoreCase(name, always)) return true;
  }
  for (const std::string& e : extra) {
    if (absl::EqualsIgnoreCase(name, e)) return true;
  }
  return false;
}

// The Fetch standard's request-body-header names: they describe a body
// that is no longer sent.
bool IsBodyHeader(absl::string_view name) {
  for (absl::string_view h :
       {"content-type", "content-length", "content-encoding", "content-language",
        "content-location"}) {
    if (absl::EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

}  // namespace

RedirectStep DecideRedirect(const FetchSpec& spec, int status, const HeaderList& headers,
                            uint32_t redirects,
                            absl::Span<const std::string> extra_credential_headers) {
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
  // Before resolving: curl's URL parser knows file:, ftp:, gopher:... and
  // none of them is ever followed.
  const std::string scheme = ExplicitScheme(location);
  auto denied_scheme = [&](absl::string_view bad) {
    step.kind = RedirectStep::Kind::kError;
    step.error = MakeError(Reason::kDestinationDenied,
                           absl::StrCat("redirect from ", spec.url, " to ",
                                        QuoteForMessage(location), " not followed: the scheme \"",
                                        bad, "\" is not http or https"));
    return step;
  };
  if (!scheme.empty() && scheme != "http" && scheme != "https") return denied_scheme(scheme);
  absl::StatusOr<std::string> absolute = ResolveUrl(spec.url, location);
  absl::StatusOr<HttpUrl> next =
      absolute.ok() ? ParseHttpUrl("Location", *absolute) : absolute.status();
  if (!next.ok()) {
    if (ReasonOf(next.status()) == ReasonName(Reason::kUnsupportedScheme)) {
      return denied_scheme(ExplicitScheme(absolute.ok() ? *absolute : location));
    }
    step.kind = RedirectStep::Kind::kError;
    step.error = MakeError(Reason::kProtocolError,
                           absl::StrCat("redirect from ", spec.url,
                                        " to an unusable location: ", next.status().message()));
    return step;
  }
  if (absl::StartsWith(spec.pool_key, "https://") && absl::StartsWith(next->pool_key, "http://") &&
      !spec.allow_https_downgrade) {
    step.kind = RedirectStep::Kind::kError;
    step.error = MakeError(
        Reason::kInsecureRedirect,
        absl::StrCat("redirect from ", spec.url, " to ", next->url,
                     " refused: it downgrades https to http (set "
                     "FetchRequest.allow_https_downgrade to follow it)"));
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
  const bool cross_origin = next->pool_key != spec.pool_key;
  for (const auto& header : spec.headers) {
    const bool drop = (cross_origin && IsCredentialHeader(header.first, extra_credential_headers)) ||
                      (step.drop_body && IsBodyHeader(header.first));
    if (drop) {
      step.headers_changed = true;
    } else {
      step.headers.push_back(header);
    }
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
