#include "server/request_validation.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/url.h"
#include "common/reason.h"

namespace fetchpool {
namespace {

constexpr size_t kMaxMethodBytes = 32;
constexpr size_t kMaxHeaders = 100;
constexpr size_t kMaxHeaderBytes = 64 * 1024;  // names plus values
constexpr size_t kMaxBodyBytes = size_t{64} << 20;
constexpr uint64_t kMaxResponseBytes = uint64_t{1} << 30;
constexpr uint32_t kMaxRedirects = 50;
constexpr uint32_t kDefaultRedirects = 10;
constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxProfileNameBytes = 64;
// Below 1ms a timeout is almost always a unit mistake (fasthttp users wrote
// MaxIdleConnDuration: 30 meaning seconds and got 30ns); above 1h the caller
// should not be holding a pooled connection at all.
constexpr absl::Duration kMinTimeout = absl::Milliseconds(1);
constexpr absl::Duration kMaxTimeout = absl::Hours(1);
// google.protobuf.Duration's documented range: +-10000 years.
constexpr int64_t kMaxDurationSeconds = 315576000000;


// RFC 9110 5.6.2 tchar.
bool IsTchar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTchar);
}

absl::StatusOr<std::string> ValidateMethod(absl::string_view method) {
  // Methods are case-sensitive (RFC 9110 9.1): "get" is a different method
  // from "GET" to an origin, so we send exactly what the caller gave and do
  // not fold it. Only the exact upper-case standard names count as standard.
  if (method.empty()) return std::string("GET");
  if (method.size() > kMaxMethodBytes) {
    return MakeError(Reason::kInvalidMethod,
                     absl::StrCat("method ", QuoteForMessage(method), " is ", method.size(),
                                  " bytes; at most ", kMaxMethodBytes, " are allowed"));
  }
  if (!IsToken(method)) {
    return MakeError(Reason::kInvalidMethod,
                     absl::StrCat("method ", QuoteForMessage(method),
                                  " is not an HTTP method token (letters, digits and "
                                  "!#$%&'*+-.^_`|~ only, e.g. GET or POST)"));
  }
  if (method == "CONNECT") {
    return MakeError(Reason::kInvalidMethod,
                     "method \"CONNECT\" is not supported: it turns the connection into a "
                     "tunnel, which can never go back to the pool");
  }
  return std::string(method);
}

// RFC 9110 5.5: a field value is visible characters, SP and HTAB (and
// obs-text, bytes 0x80-0xff, which we pass through). Every other control
// byte is refused.
bool IsForbiddenValueByte(char c) {
  const auto b = static_cast<unsigned char>(c);
  return (b < 0x20 && b != '\t') || b == 0x7f;
}

std::string ControlByteName(char c) {
  switch (c) {
    case '\r': return "CR";
    case '\n': return "LF";
    case '\0': return "NUL";
    default: return absl::StrFormat("the control byte 0x%02x", static_cast<unsigned char>(c));
  }
}

// A Host value that every parser reads the same way: host[:port].
bool IsPlainHostValue(absl::string_view value) {
  if (value.empty()) return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
           absl::string_view("-._~%[]:").find(c) != absl::string_view::npos;
  });
}

// Why the pool, not the caller, must own each refused header.
absl::string_view OwnedHeaderReason(absl::string_view name) {
  static constexpr std::pair<absl::string_view, absl::string_view> kOwned[] = {
      {"connection", "the pool decides when a connection is kept or closed"},
      {"keep-alive", "the pool decides when a connection is kept or closed"},
      {"proxy-connection", "the pool decides when a connection is kept or closed"},
      {"transfer-encoding",
       "the request body is framed from FetchRequest.body; a caller's framing header could "
       "desynchronize a pooled connection (request smuggling)"},
      {"content-length",
       "the request body is framed from FetchRequest.body; a caller's framing header could "
       "desynchronize a pooled connection (request smuggling)"},
      {"upgrade", "a protocol upgrade takes the connection out of the pool for good"},
      {"te", "transfer codings are hop-by-hop and negotiated by fetchpool"},
      {"expect",
       "fetchpool sends the body at once; waiting for 100-continue would stall a pooled "
       "connection"},
  };
  for (const auto& [owned, why] : kOwned) {
    if (absl::EqualsIgnoreCase(name, owned)) return why;
  }
  return "";
}

absl::Status ValidateHeaders(const fetchpool::v1::FetchRequest& request, HeaderList* out) {
  if (static_cast<size_t>(request.headers_size()) > kMaxHeaders) {
    return MakeError(Reason::kInvalidHeader,
                     absl::StrCat("request has ", request.headers_size(), " headers; at most ",
                                  kMaxHeaders, " are allowed"));
  }
  size_t total = 0;
  int host_headers = 0;
  for (int i = 0; i < request.headers_size(); ++i) {
    const std::string& name = request.headers(i).name();
    const std::string& value = request.headers(i).value();
    if (!IsToken(name)) {
      return MakeError(
          Reason::kInvalidHeader,
          absl::StrCat("headers[", i, "] name ", QuoteForMessage(name),
                       name.empty() ? " is empty"
                                    : " is not a valid header name (letters, digits and "
                                      "!#$%&'*+-.^_`|~ only)"));
    }
    if (auto bad = std::find_if(value.begin(), value.end(), IsForbiddenValueByte);
        bad != value.end()) {
      return MakeError(Reason::kInvalidHeader,
                       absl::StrFormat("headers[%d] (%s) value %s contains %s at offset %d; "
                                       "HTAB is the only control byte allowed (CR, LF and NUL "
                                       "would let a value inject extra headers, and servers "
                                       "disagree on the others)",
                                       i, name, QuoteForMessage(value), ControlByteName(*bad),
                                       bad - value.begin()));
    }
    if (absl::string_view why = OwnedHeaderReason(name); !why.empty()) {
      return MakeError(Reason::kInvalidHeader,
                       absl::StrCat("headers[", i, "] ", QuoteForMessage(name),
                                    " cannot be set by the caller: ", why));
    }
    if (absl::StartsWithIgnoreCase(name, "proxy-")) {
      return MakeError(Reason::kInvalidHeader,
                       absl::StrCat("headers[", i, "] ", QuoteForMessage(name),
                                    " cannot be set by the caller: Proxy-* headers are for a "
                                    "proxy, and fetchpool never uses one; a credential in them "
                                    "would reach the origin"));
    }
    if (absl::EqualsIgnoreCase(name, "host")) {
      // Whether a caller may set Host at all is the egress profile's call
      // (allow_host_header); here only that it cannot smuggle: one Host,
      // and a plain host[:port] with no whitespace, comma or path.
      if (++host_headers > 1) {
        return MakeError(Reason::kInvalidHeader,
                         absl::StrCat("headers[", i, "] is a second Host header; an origin and "
                                      "the proxies before it could each pick a different one "
                                      "(request smuggling)"));
      }
      if (!IsPlainHostValue(value)) {
        return MakeError(Reason::kInvalidHeader,
                         absl::StrCat("headers[", i, "] Host value ", QuoteForMessage(value),
                                      " is not host[:port] (letters, digits, '-', '.', '_', "
                                      "'~', '%', an [IPv6] literal and a port only; no "
                                      "whitespace, comma or path)"));
      }
    }
    total += name.size() + value.size();
    if (total > kMaxHeaderBytes) {
      return MakeError(Reason::kInvalidHeader,
                       absl::StrCat("headers exceed ", kMaxHeaderBytes,
                                    " bytes in total (names plus values) at headers[", i,
                                    "] (", name, ")"));
    }
    out->emplace_back(name, value);
  }
  return absl::OkStatus();
}

absl::Status ValidateBody(const std::string& method, const std::string& body) {
  if (body.size() > kMaxBodyBytes) {
    return MakeError(Reason::kInvalidRequest,
                     absl::StrCat("body is ", body.size(), " bytes; at most ", kMaxBodyBytes,
                                  " (64 MiB) are allowed"));
  }
  // GET with a body is allowed: some APIs (search engines) take one. HEAD and
  // TRACE are not: RFC 9110 forbids content in TRACE, and a HEAD body has no
  // meaning that origins agree on.
  if (!body.empty() && (method == "HEAD" || method == "TRACE")) {
    return MakeError(Reason::kInvalidRequest,
                     absl::StrCat("body is ", body.size(), " bytes, but a ", method,
                                  " request cannot carry a body; send it without one or "
                                  "use another method"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::optional<absl::Duration>> ValidateTimeout(
    absl::string_view field, bool present, const google::protobuf::Duration& d) {
  if (!present) return absl::optional<absl::Duration>();
  const int64_t s = d.seconds();
  const int32_t n = d.nanos();
  const bool in_range = s >= -kMaxDurationSeconds && s <= kMaxDurationSeconds &&
                        n > -1000000000 && n < 1000000000 && !(s > 0 && n < 0) &&
                        !(s < 0 && n > 0);
  if (!in_range) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat(field, " {seconds: ", s, ", nanos: ", n,
                                  "} is not a valid Duration (nanos must be within +-999999999 "
                                  "and have the same sign as seconds)"));
  }
  absl::Duration value = absl::Seconds(s) + absl::Nanoseconds(n);
  if (value <= absl::ZeroDuration()) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat(field, " is ", absl::FormatDuration(value),
                                  "; it must be positive (leave it unset for the default)"));
  }
  if (value < kMinTimeout) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat(field, " is ", absl::FormatDuration(value),
                                  "; it must be at least 1ms: a sub-millisecond timeout is "
                                  "almost always a unit mistake (seconds vs nanos)"));
  }
  if (value > kMaxTimeout) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat(field, " is ", absl::FormatDuration(value),
                                  "; it must be at most 1h"));
  }
  return absl::optional<absl::Duration>(value);
}

absl::Status ValidateOptions(const fetchpool::v1::FetchRequest& request, FetchSpec* spec) {
  if (request.max_response_bytes() > kMaxResponseBytes) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat("max_response_bytes is ", request.max_response_bytes(),
                                  "; it must be at most ", kMaxResponseBytes,
                                  " (1 GiB), or 0 for the server's limit"));
  }
  spec->max_response_bytes = request.max_response_bytes();

  absl::StatusOr<absl::optional<absl::Duration>> wait =
      ValidateTimeout("wait_timeout", request.has_wait_timeout(), request.wait_timeout());
  if (!wait.ok()) return wait.status();
  spec->wait_timeout = *wait;
  absl::StatusOr<absl::optional<absl::Duration>> total = ValidateTimeout(
      "request_timeout", request.has_request_timeout(), request.request_timeout());
  if (!total.ok()) return total.status();
  spec->request_timeout = *total;

  if (request.max_redirects() > kMaxRedirects) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat("max_redirects is ", request.max_redirects(),
                                  "; it must be at most ", kMaxRedirects));
  }
  spec->follow_redirects = request.follow_redirects();
  spec->max_redirects = request.max_redirects() == 0 ? kDefaultRedirects : request.max_redirects();

  const int policy = static_cast<int>(request.deadline_policy());
  if (!fetchpool::v1::DeadlinePolicy_IsValid(policy)) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat("deadline_policy is ", policy,
                                  ", which is not a known value (UNSPECIFIED=0, ABORT=1, "
                                  "DRAIN=2)"));
  }
  switch (request.deadline_policy()) {
    case fetchpool::v1::DEADLINE_POLICY_ABORT:
      spec->on_deadline = OnDeadline::kAbort;
      break;
    case fetchpool::v1::DEADLINE_POLICY_DRAIN:
      spec->on_deadline = OnDeadline::kDrain;
      break;
    default:
      spec->on_deadline = absl::nullopt;
      break;
  }

  const std::string& id = request.id();
  if (id.size() > kMaxIdBytes) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat("id ", QuoteForMessage(id), " is ", id.size(), " bytes; at most ",
                                  kMaxIdBytes, " are allowed"));
  }
  // Printable ASCII only: the id is echoed into logs and metadata.
  if (auto bad = std::find_if(id.begin(), id.end(),
                              [](char c) { return c < 0x20 || c > 0x7e; });
      bad != id.end()) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat("id ", QuoteForMessage(id), " contains a non-printable byte at offset ",
                                  bad - id.begin(), "; use printable ASCII only"));
  }
  spec->id = id;

  const std::string& profile = request.egress_profile();
  if (profile.size() > kMaxProfileNameBytes ||
      !std::all_of(profile.begin(), profile.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      })) {
    return MakeError(Reason::kInvalidOption,
                     absl::StrCat("egress_profile ", QuoteForMessage(profile),
                                  " is not a profile name (letters, digits, '-', '_', '.'; at most ",
                                  kMaxProfileNameBytes, " bytes)"));
  }
  spec->egress_profile = profile;
  spec->allow_https_downgrade = request.allow_https_downgrade();
  return absl::OkStatus();
}

bool IsReplayableMethod(absl::string_view method) {
  for (absl::string_view m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    if (method == m) return true;
  }
  return false;
}

}  // namespace

namespace {

// `body_source`: null to copy the body, or the request's own body to move it.
absl::StatusOr<FetchSpec> Validate(const fetchpool::v1::FetchRequest& request,
                                   std::string* body_source) {
  FetchSpec spec;
  absl::StatusOr<std::string> method = ValidateMethod(request.method());
  if (!method.ok()) return method.status();
  spec.method = *std::move(method);

  absl::StatusOr<HttpUrl> url = ParseHttpUrl("url", request.url());
  if (!url.ok()) return url.status();
  spec.url = std::move(url->url);
  spec.pool_key = std::move(url->pool_key);

  if (absl::Status s = ValidateHeaders(request, &spec.headers); !s.ok()) return s;
  if (absl::Status s = ValidateBody(spec.method, request.body()); !s.ok()) return s;
  if (absl::Status s = ValidateOptions(request, &spec); !s.ok()) return s;
  if (body_source != nullptr) {
    spec.body = std::move(*body_source);
  } else {
    spec.body = request.body();
  }

  spec.replayable = IsReplayableMethod(spec.method) || request.idempotent();
  return spec;
}

}  // namespace

absl::StatusOr<FetchSpec> ValidateFetchRequest(const fetchpool::v1::FetchRequest& request) {
  return Validate(request, nullptr);
}

absl::StatusOr<FetchSpec> ValidateFetchRequestTakingBody(fetchpool::v1::FetchRequest* request) {
  // mutable_body() would allocate an empty string for an unset body.
  return Validate(*request, request->body().empty() ? nullptr : request->mutable_body());
}

absl::StatusOr<std::string> NormalizePoolKey(absl::string_view pool_key) {
  absl::StatusOr<HttpUrl> parsed = ParseHttpUrl("pool key", pool_key);
  if (!parsed.ok()) return parsed.status();
  // A pool is per host, not per path: "http://api:80/v1" would suggest a
  // per-path setting that does not exist.
  if (parsed->path != "/" || parsed->has_query || parsed->has_fragment) {
    return MakeError(Reason::kInvalidUrl,
                     absl::StrCat("pool key ", QuoteForMessage(pool_key),
                                  " has a path, query or fragment; a pool key is "
                                  "scheme://host:port, e.g. ", parsed->pool_key));
  }
  return parsed->pool_key;
}

}  // namespace fetchpool
