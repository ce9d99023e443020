#include "engine/url.h"

#include <curl/curl.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "pool/reason.h"

namespace fetchpool {
namespace {

struct UrlDeleter {
  void operator()(CURLU* h) const { curl_url_cleanup(h); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

CurlString GetPart(CURLU* h, CURLUPart part, unsigned int flags = 0) {
  char* out = nullptr;
  if (curl_url_get(h, part, &out, flags) != CURLUE_OK) return nullptr;
  return CurlString(out);
}

std::string Quote(absl::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  if (s.size() > 80) out += "...";
  return absl::StrCat("\"", out, "\"");
}

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url, absl::string_view base) {
  std::unique_ptr<CURLU, UrlDeleter> h(curl_url());
  if (!h) return MakeError(Reason::kInternal, "out of memory parsing a URL");
  const std::string url_str(url);
  if (url_str.find('\0') != std::string::npos) {
    return MakeError(Reason::kInvalidUrl, "the URL contains a NUL byte");
  }
  if (!base.empty()) {
    if (curl_url_set(h.get(), CURLUPART_URL, std::string(base).c_str(), 0) != CURLUE_OK) {
      return MakeError(Reason::kInvalidUrl, absl::StrCat("bad base URL ", Quote(base)));
    }
  }
  // CURLU_NON_SUPPORT_SCHEME lets us name the unsupported scheme instead of
  // getting curl's generic error; we then allow only http and https.
  CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, url_str.c_str(), CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat("cannot parse URL ", Quote(url), ": ", curl_url_strerror(rc)));
  }
  CurlString scheme = GetPart(h.get(), CURLUPART_SCHEME);
  if (!scheme) return MakeError(Reason::kInvalidUrl, absl::StrCat("URL ", Quote(url), " has no scheme"));
  HttpUrl out;
  out.scheme = absl::AsciiStrToLower(scheme.get());
  if (out.scheme != "http" && out.scheme != "https") {
    return MakeError(Reason::kUnsupportedScheme,
                     absl::StrCat("scheme \"", out.scheme, "\" is not supported; use http or https"));
  }
  CurlString host = GetPart(h.get(), CURLUPART_HOST);
  if (!host || host.get()[0] == '\0') {
    return MakeError(Reason::kInvalidUrl, absl::StrCat("URL ", Quote(url), " has no host"));
  }
  out.host = absl::AsciiStrToLower(host.get());
  CurlString port = GetPart(h.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!port || !absl::SimpleAtoi(port.get(), &out.port) || out.port <= 0 || out.port > 65535) {
    return MakeError(Reason::kInvalidUrl, absl::StrCat("URL ", Quote(url), " has a bad port"));
  }
  // Fragments are never sent to the origin.
  curl_url_set(h.get(), CURLUPART_FRAGMENT, nullptr, 0);
  CurlString full = GetPart(h.get(), CURLUPART_URL);
  if (!full) return MakeError(Reason::kInvalidUrl, absl::StrCat("cannot rebuild URL ", Quote(url)));
  out.url = full.get();
  // curl keeps IPv6 literals in brackets in the host part.
  std::string bare_host = out.host;
  if (!bare_host.empty() && bare_host.front() == '[') bare_host = bare_host.substr(1, bare_host.size() - 2);
  const bool ipv6 = bare_host.find(':') != std::string::npos;
  out.pool_key = absl::StrCat(out.scheme, "://", ipv6 ? absl::StrCat("[", bare_host, "]") : bare_host,
                              ":", out.port);
  out.host = bare_host;
  return out;
}

}  // namespace fetchpool
