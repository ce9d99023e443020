#include "engine/url.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/optional.h"
#include "common/curl_url_parts.h"
#include "common/reason.h"

namespace fetchpool {
namespace {

constexpr size_t kMaxUrlBytes = 8 * 1024;

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view field, absl::string_view url) {
  if (url.empty()) {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat(field, " is empty; give an absolute http:// or https:// URL"));
  }
  if (url.size() > kMaxUrlBytes) {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat(field, " ", QuoteForMessage(url), " is ", url.size(),
                                  " bytes; at most ", kMaxUrlBytes, " are allowed"));
  }
  if (size_t bad = FindBadUrlByte(url); bad != absl::string_view::npos) {
    unsigned char c = static_cast<unsigned char>(url[bad]);
    std::string what = c == ' '   ? std::string("a space")
                       : c < 0x80 ? absl::StrFormat("control byte 0x%02x", c)
                                  : absl::StrFormat("non-ASCII byte 0x%02x", c);
    return MakeError(
        Reason::kInvalidUrl,
        absl::StrCat(field, " ", QuoteForMessage(url), " contains ", what, " at offset ", bad,
                     "; percent-encode it (e.g. %20 for a space), and write international "
                     "host names in punycode (xn--...)"));
  }

  // Check the scheme ourselves first, so that any scheme other than http(s)
  // gets the same answer whether or not this libcurl build knows it.
  size_t colon = url.find(':');
  absl::string_view scheme = colon == absl::string_view::npos ? "" : url.substr(0, colon);
  bool scheme_syntax = !scheme.empty() && absl::ascii_isalpha(scheme[0]) &&
                       std::all_of(scheme.begin(), scheme.end(), [](char c) {
                         return absl::ascii_isalnum(c) || c == '+' || c == '-' || c == '.';
                       });
  // "localhost:8080/x" reads as scheme "localhost"; a digit after the colon
  // says it is really host:port with the scheme left out.
  if (scheme_syntax && colon + 1 < url.size() && absl::ascii_isdigit(url[colon + 1])) {
    scheme_syntax = false;
  }
  if (!scheme_syntax) {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat(field, " ", QuoteForMessage(url),
                                  " has no scheme; write an absolute URL such as "
                                  "http://host/path or https://host/path"));
  }
  if (!absl::EqualsIgnoreCase(scheme, "http") && !absl::EqualsIgnoreCase(scheme, "https")) {
    return MakeError(Reason::kUnsupportedScheme,
                     absl::StrCat(field, " scheme ", QuoteForMessage(scheme),
                                  " is not supported; fetchpool fetches http:// and https:// "
                                  "URLs only"));
  }

  CurluPtr h(curl_url());
  if (h == nullptr) return MakeError(Reason::kInternal, "out of memory parsing a URL");
  // No CURLU_NON_SUPPORT_SCHEME, CURLU_GUESS_SCHEME or CURLU_URLENCODE: curl
  // must take the URL as written or refuse it.
  std::string url_str(url);
  if (CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, url_str.c_str(), 0); rc != CURLUE_OK) {
    return MakeError(Reason::kInvalidUrl, absl::StrCat(field, " ", QuoteForMessage(url),
                                                       " is not a valid URL: ",
                                                       curl_url_strerror(rc)));
  }
  if (GetUrlPart(h.get(), CURLUPART_USER).has_value() ||
      GetUrlPart(h.get(), CURLUPART_PASSWORD).has_value() ||
      GetUrlPart(h.get(), CURLUPART_OPTIONS).has_value()) {
    return MakeError(
        Reason::kInvalidUrl,
        absl::StrCat(field, " ", QuoteForMessage(url),
                     " contains user info (user:password@); credentials in a URL end up in "
                     "logs and in the pool key, so send them in an Authorization header"));
  }
  absl::optional<std::string> host = GetUrlPart(h.get(), CURLUPART_HOST);
  if (!host.has_value() || host->empty() || *host == "[]") {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat(field, " ", QuoteForMessage(url), " has no host"));
  }
  // curl percent-decodes the host ("%41" -> "A", "%a8" -> a raw 0xa8 byte).
  // Only a plain DNS name or an IP literal may reach the pool key and the
  // resolver; anything else is refused with the decoded form quoted.
  if (host->front() != '[' && !std::all_of(host->begin(), host->end(), IsHostNameChar)) {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat(field, " ", QuoteForMessage(url), " has host ", QuoteForMessage(*host),
                                  " (after percent-decoding); a host is letters, digits, '-', "
                                  "'.' and '_' (punycode xn--... for international names) or "
                                  "an IP address"));
  }
  absl::optional<std::string> port = GetUrlPart(h.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!port.has_value() || *port == "0") {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat(field, " ", QuoteForMessage(url),
                                  " has port 0, which cannot be connected to"));
  }
  absl::optional<std::string> curl_scheme = GetUrlPart(h.get(), CURLUPART_SCHEME);
  absl::optional<std::string> zone = GetUrlPart(h.get(), CURLUPART_ZONEID);

  HttpUrl parsed;
  parsed.has_fragment = GetUrlPart(h.get(), CURLUPART_FRAGMENT).has_value();
  parsed.has_query = GetUrlPart(h.get(), CURLUPART_QUERY).has_value();
  parsed.path = GetUrlPart(h.get(), CURLUPART_PATH).value_or("/");
  // The fragment is for the client only; it is never sent.
  curl_url_set(h.get(), CURLUPART_FRAGMENT, nullptr, 0);
  absl::optional<std::string> normalized = GetUrlPart(h.get(), CURLUPART_URL);
  if (!normalized.has_value() || !curl_scheme.has_value()) {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat(field, " ", QuoteForMessage(url), " could not be normalized"));
  }
  // Defensive: what goes to curl and into logs must be as clean as the input.
  if (FindBadUrlByte(*normalized) != absl::string_view::npos) {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat(field, " ", QuoteForMessage(url), " normalizes to ", QuoteForMessage(*normalized),
                                  ", which contains a space, control or non-ASCII byte; "
                                  "percent-encode it"));
  }
  parsed.url = *std::move(normalized);
  parsed.pool_key = absl::StrCat(absl::AsciiStrToLower(*curl_scheme), "://",
                                 PoolKeyHost(*host, zone), ":", *port);
  return parsed;
}

absl::StatusOr<std::string> ResolveUrl(absl::string_view base, absl::string_view reference) {
  CurluPtr h(curl_url());
  if (h == nullptr) return MakeError(Reason::kInternal, "out of memory parsing a URL");
  const std::string base_str(base);
  const std::string ref_str(reference);
  if (curl_url_set(h.get(), CURLUPART_URL, base_str.c_str(), 0) != CURLUE_OK) {
    return MakeError(Reason::kInvalidUrl, absl::StrCat("bad base URL ", QuoteForMessage(base)));
  }
  // Setting a relative URL on a handle that holds one resolves it (RFC 3986).
  if (CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, ref_str.c_str(), 0); rc != CURLUE_OK) {
    return MakeError(Reason::kInvalidUrl, absl::StrCat("cannot resolve ", QuoteForMessage(reference),
                                                       " against ", QuoteForMessage(base), ": ",
                                                       curl_url_strerror(rc)));
  }
  absl::optional<std::string> resolved = GetUrlPart(h.get(), CURLUPART_URL);
  if (!resolved.has_value()) {
    return MakeError(Reason::kInvalidUrl, absl::StrCat("cannot resolve ", QuoteForMessage(reference)));
  }
  return *resolved;
}

}  // namespace fetchpool
