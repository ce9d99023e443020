#include "server/request_validation.h"

#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/reason.h"

namespace fetchpool {
namespace {

using ::fetchpool::v1::FetchRequest;
using ::testing::HasSubstr;
using ::testing::Not;

FetchRequest Base() {
  FetchRequest r;
  r.set_url("http://api.example.com/v1/items?x=1");
  return r;
}

void AddHeader(FetchRequest* r, const std::string& name, const std::string& value) {
  auto* h = r->add_headers();
  h->set_name(name);
  h->set_value(value);
}

void SetDuration(google::protobuf::Duration* d, int64_t seconds, int32_t nanos) {
  d->set_seconds(seconds);
  d->set_nanos(nanos);
}

struct BadCase {
  const char* name;
  std::function<void(FetchRequest*)> edit;
  const char* reason;
  const char* message_part;  // the message must name the bad part
};

// Keeps ctest's test names readable (the default prints the struct's bytes).
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class RejectTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RejectTest, RejectsWithReasonAndMessage) {
  const BadCase& c = GetParam();
  FetchRequest r = Base();
  c.edit(&r);
  absl::StatusOr<FetchSpec> spec = ValidateFetchRequest(r);
  ASSERT_FALSE(spec.ok()) << "accepted: " << spec->url;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(spec.status()), c.reason) << spec.status();
  EXPECT_THAT(spec.status().message(), HasSubstr(c.message_part));
}

const std::string kLong(200, 'a');

const BadCase kBadCases[] = {
    // method
    {"MethodWithSpace", [](FetchRequest* r) { r->set_method("GET /x"); }, "INVALID_METHOD",
     "\"GET /x\" is not an HTTP method token"},
    {"MethodWithCrlf", [](FetchRequest* r) { r->set_method("GET\r\nX: y"); }, "INVALID_METHOD",
     "\"GET\\r\\nX: y\""},
    {"MethodWithNul", [](FetchRequest* r) { r->set_method(std::string("GE\0T", 4)); },
     "INVALID_METHOD", "\"GE\\x00T\""},
    {"MethodWithColon", [](FetchRequest* r) { r->set_method("GET:"); }, "INVALID_METHOD",
     "method"},
    {"MethodTooLong", [](FetchRequest* r) { r->set_method(std::string(33, 'X')); },
     "INVALID_METHOD", "33 bytes; at most 32"},
    {"MethodConnect", [](FetchRequest* r) { r->set_method("CONNECT"); }, "INVALID_METHOD",
     "tunnel"},
    // url
    {"UrlEmpty", [](FetchRequest* r) { r->set_url(""); }, "INVALID_URL", "url is empty"},
    {"UrlNoScheme", [](FetchRequest* r) { r->set_url("api.example.com/x"); }, "INVALID_URL",
     "has no scheme"},
    {"UrlHostPort", [](FetchRequest* r) { r->set_url("localhost:8080/x"); }, "INVALID_URL",
     "has no scheme"},
    {"UrlRelative", [](FetchRequest* r) { r->set_url("/v1/items"); }, "INVALID_URL",
     "has no scheme"},
    {"UrlFtp", [](FetchRequest* r) { r->set_url("ftp://x"); }, "UNSUPPORTED_SCHEME",
     "scheme \"ftp\" is not supported"},
    {"UrlFile", [](FetchRequest* r) { r->set_url("file:///etc/passwd"); }, "UNSUPPORTED_SCHEME",
     "\"file\""},
    {"UrlGopher", [](FetchRequest* r) { r->set_url("gopher://x:70/"); }, "UNSUPPORTED_SCHEME",
     "http:// and https://"},
    {"UrlUnknownScheme", [](FetchRequest* r) { r->set_url("foo://x"); }, "UNSUPPORTED_SCHEME",
     "\"foo\""},
    {"UrlNoHost", [](FetchRequest* r) { r->set_url("http://"); }, "INVALID_URL",
     "No host part"},
    {"UrlNoHostWithPath", [](FetchRequest* r) { r->set_url("http://:80/x"); }, "INVALID_URL",
     "\"http://:80/x\""},
    {"UrlSpace", [](FetchRequest* r) { r->set_url("http://h/a b"); }, "INVALID_URL",
     "a space at offset 10"},
    {"UrlTab", [](FetchRequest* r) { r->set_url("http://h/a\tb"); }, "INVALID_URL",
     "control byte 0x09"},
    {"UrlCrlf", [](FetchRequest* r) { r->set_url("http://h/\r\nHost: evil"); }, "INVALID_URL",
     "control byte 0x0d"},
    {"UrlNul", [](FetchRequest* r) { r->set_url(std::string("http://h/\0", 10)); },
     "INVALID_URL", "control byte 0x00"},
    {"UrlDel", [](FetchRequest* r) { r->set_url("http://h/\x7f"); }, "INVALID_URL",
     "control byte 0x7f"},
    {"UrlNonAscii", [](FetchRequest* r) { r->set_url("http://h/\xc3\xa9"); }, "INVALID_URL",
     "non-ASCII byte 0xc3"},
    {"UrlTooLong",
     [](FetchRequest* r) { r->set_url("http://h/" + std::string(8 * 1024, 'a')); },
     "INVALID_URL", "8201 bytes; at most 8192"},
    {"UrlUserinfo", [](FetchRequest* r) { r->set_url("http://user:pass@h/"); }, "INVALID_URL",
     "Authorization header"},
    {"UrlUserOnly", [](FetchRequest* r) { r->set_url("https://token@h/"); }, "INVALID_URL",
     "user info"},
    {"UrlEmptyUserinfo", [](FetchRequest* r) { r->set_url("http://@h/"); }, "INVALID_URL",
     "user info"},
    {"UrlBadPort", [](FetchRequest* r) { r->set_url("http://h:99999/"); }, "INVALID_URL",
     "not a valid URL"},
    {"UrlPortZero", [](FetchRequest* r) { r->set_url("http://h:0/"); }, "INVALID_URL",
     "port 0"},
    {"UrlBadIpv6", [](FetchRequest* r) { r->set_url("http://[::1/"); }, "INVALID_URL",
     "Bad IPv6"},
    {"UrlBadHostChar", [](FetchRequest* r) { r->set_url("http://a\\b/"); }, "INVALID_URL",
     "not a valid URL"},
    {"UrlPercentEncodedNonAsciiHost", [](FetchRequest* r) { r->set_url("http://80%a80/x"); },
     "INVALID_URL", "has host \"80\\xa80\" (after percent-decoding)"},
    {"UrlPercentEncodedSlashInHost", [](FetchRequest* r) { r->set_url("http://a%2fb/"); },
     "INVALID_URL", "\"http://a%2fb/\""},
    {"UrlSingleColon", [](FetchRequest* r) { r->set_url("http:h"); }, "INVALID_URL",
     "not a valid URL"},
    // headers
    {"HeaderEmptyName", [](FetchRequest* r) { AddHeader(r, "", "v"); }, "INVALID_HEADER",
     "headers[0] name \"\" is empty"},
    {"HeaderNameSpace", [](FetchRequest* r) { AddHeader(r, "X Y", "v"); }, "INVALID_HEADER",
     "\"X Y\" is not a valid header name"},
    {"HeaderNameColon", [](FetchRequest* r) { AddHeader(r, "X:", "v"); }, "INVALID_HEADER",
     "not a valid header name"},
    {"HeaderPseudo", [](FetchRequest* r) { AddHeader(r, ":authority", "v"); },
     "INVALID_HEADER", "not a valid header name"},
    {"HeaderValueCrlf",
     [](FetchRequest* r) {
       AddHeader(r, "Accept", "*/*");
       AddHeader(r, "X-A", "v\r\nX-Injected: 1");
     },
     "INVALID_HEADER", "headers[1] (X-A) value \"v\\r\\nX-Injected: 1\" contains CR"},
    {"HeaderValueLf", [](FetchRequest* r) { AddHeader(r, "X-A", "v\nb"); }, "INVALID_HEADER",
     "at offset 1"},
    {"HeaderValueNul", [](FetchRequest* r) { AddHeader(r, "X-A", std::string("a\0", 2)); },
     "INVALID_HEADER", "NUL"},
    // Issue 11 part 4: every control byte but HTAB, every Proxy-*, a smuggling Host.
    {"HeaderValueSoh", [](FetchRequest* r) { AddHeader(r, "X-A", "a\x01" "b"); }, "INVALID_HEADER",
     "the control byte 0x01 at offset 1"},
    {"HeaderValueBackspace", [](FetchRequest* r) { AddHeader(r, "X-A", "\x08"); },
     "INVALID_HEADER", "0x08"},
    {"HeaderValueVt", [](FetchRequest* r) { AddHeader(r, "X-A", "a\x0b"); }, "INVALID_HEADER",
     "0x0b"},
    {"HeaderValueFormFeed", [](FetchRequest* r) { AddHeader(r, "X-A", "a\x0c"); },
     "INVALID_HEADER", "0x0c"},
    {"HeaderValueEscape", [](FetchRequest* r) { AddHeader(r, "X-A", "\x1b[31m"); },
     "INVALID_HEADER", "0x1b"},
    {"HeaderValueUnitSeparator", [](FetchRequest* r) { AddHeader(r, "X-A", "a\x1f"); },
     "INVALID_HEADER", "0x1f"},
    {"HeaderValueDel", [](FetchRequest* r) { AddHeader(r, "X-A", "a\x7f"); }, "INVALID_HEADER",
     "the control byte 0x7f"},
    {"HeaderValueCrAlone", [](FetchRequest* r) { AddHeader(r, "X-A", "a\rb"); },
     "INVALID_HEADER", "contains CR at offset 1"},
    {"HeaderProxyAuthorization",
     [](FetchRequest* r) { AddHeader(r, "Proxy-Authorization", "Basic dTpw"); },
     "INVALID_HEADER", "Proxy-* headers"},
    {"HeaderProxyAnyCase", [](FetchRequest* r) { AddHeader(r, "pROXY-x-anything", "1"); },
     "INVALID_HEADER", "Proxy-* headers"},
    {"HeaderProxyAuthenticate",
     [](FetchRequest* r) { AddHeader(r, "Proxy-Authenticate", "Basic"); }, "INVALID_HEADER",
     "never uses one"},
    {"HostTwice",
     [](FetchRequest* r) {
       AddHeader(r, "Host", "a.example");
       AddHeader(r, "host", "b.example");
     },
     "INVALID_HEADER", "headers[1] is a second Host header"},
    {"HostWithSpace", [](FetchRequest* r) { AddHeader(r, "Host", "a.example b.example"); },
     "INVALID_HEADER", "is not host[:port]"},
    {"HostWithTab", [](FetchRequest* r) { AddHeader(r, "Host", "a.example\t"); },
     "INVALID_HEADER", "is not host[:port]"},
    {"HostWithComma", [](FetchRequest* r) { AddHeader(r, "Host", "a.example,b.example"); },
     "INVALID_HEADER", "no whitespace, comma or path"},
    {"HostWithPath", [](FetchRequest* r) { AddHeader(r, "Host", "a.example/x"); },
     "INVALID_HEADER", "is not host[:port]"},
    {"HostWithUserInfo", [](FetchRequest* r) { AddHeader(r, "Host", "u@a.example"); },
     "INVALID_HEADER", "is not host[:port]"},
    {"HostEmpty", [](FetchRequest* r) { AddHeader(r, "Host", ""); }, "INVALID_HEADER",
     "is not host[:port]"},
    {"HeaderConnection", [](FetchRequest* r) { AddHeader(r, "Connection", "close"); },
     "INVALID_HEADER", "kept or closed"},
    {"HeaderKeepAlive", [](FetchRequest* r) { AddHeader(r, "keep-alive", "timeout=5"); },
     "INVALID_HEADER", "\"keep-alive\" cannot be set by the caller"},
    {"HeaderProxyConnection",
     [](FetchRequest* r) { AddHeader(r, "Proxy-Connection", "keep-alive"); }, "INVALID_HEADER",
     "cannot be set"},
    {"HeaderTransferEncoding",
     [](FetchRequest* r) { AddHeader(r, "TRANSFER-ENCODING", "chunked"); }, "INVALID_HEADER",
     "smuggling"},
    {"HeaderContentLength", [](FetchRequest* r) { AddHeader(r, "Content-Length", "5"); },
     "INVALID_HEADER", "FetchRequest.body"},
    {"HeaderUpgrade", [](FetchRequest* r) { AddHeader(r, "Upgrade", "websocket"); },
     "INVALID_HEADER", "upgrade"},
    {"HeaderTe", [](FetchRequest* r) { AddHeader(r, "TE", "trailers"); }, "INVALID_HEADER",
     "hop-by-hop"},
    {"HeaderExpect", [](FetchRequest* r) { AddHeader(r, "Expect", "100-continue"); },
     "INVALID_HEADER", "100-continue"},
    {"HeaderTooMany",
     [](FetchRequest* r) {
       for (int i = 0; i < 101; ++i) AddHeader(r, "X-N", "v");
     },
     "INVALID_HEADER", "101 headers; at most 100"},
    {"HeaderTooBig",
     [](FetchRequest* r) {
       for (int i = 0; i < 3; ++i) AddHeader(r, "X-Big", std::string(30000, 'v'));
     },
     "INVALID_HEADER", "65536 bytes in total"},
    // body
    {"BodyTooBig", [](FetchRequest* r) { r->set_body(std::string((64 << 20) + 1, 'b')); },
     "INVALID_REQUEST", "at most 67108864"},
    {"BodyWithHead",
     [](FetchRequest* r) {
       r->set_method("HEAD");
       r->set_body("x");
     },
     "INVALID_REQUEST", "HEAD request cannot carry a body"},
    {"BodyWithTrace",
     [](FetchRequest* r) {
       r->set_method("TRACE");
       r->set_body("x");
     },
     "INVALID_REQUEST", "TRACE"},
    // options
    {"MaxResponseBytesTooBig",
     [](FetchRequest* r) { r->set_max_response_bytes((uint64_t{1} << 30) + 1); },
     "INVALID_OPTION", "max_response_bytes is 1073741825"},
    {"WaitTimeoutZero", [](FetchRequest* r) { SetDuration(r->mutable_wait_timeout(), 0, 0); },
     "INVALID_OPTION", "wait_timeout is 0; it must be positive"},
    {"WaitTimeoutNegative",
     [](FetchRequest* r) { SetDuration(r->mutable_wait_timeout(), -1, 0); }, "INVALID_OPTION",
     "positive"},
    {"WaitTimeoutSubMillisecond",
     [](FetchRequest* r) { SetDuration(r->mutable_wait_timeout(), 0, 30); }, "INVALID_OPTION",
     "wait_timeout is 30ns; it must be at least 1ms"},
    {"WaitTimeoutJustUnderMillisecond",
     [](FetchRequest* r) { SetDuration(r->mutable_wait_timeout(), 0, 999999); },
     "INVALID_OPTION", "unit mistake"},
    {"WaitTimeoutOverAnHour",
     [](FetchRequest* r) { SetDuration(r->mutable_wait_timeout(), 3600, 1); }, "INVALID_OPTION",
     "at most 1h"},
    {"WaitTimeoutNanosOutOfRange",
     [](FetchRequest* r) { SetDuration(r->mutable_wait_timeout(), 1, 1000000000); },
     "INVALID_OPTION", "not a valid Duration"},
    {"WaitTimeoutMixedSigns",
     [](FetchRequest* r) { SetDuration(r->mutable_wait_timeout(), 1, -5); }, "INVALID_OPTION",
     "same sign"},
    {"WaitTimeoutSecondsOutOfRange",
     [](FetchRequest* r) { SetDuration(r->mutable_wait_timeout(), INT64_MAX, 0); },
     "INVALID_OPTION", "not a valid Duration"},
    {"RequestTimeoutSubMillisecond",
     [](FetchRequest* r) { SetDuration(r->mutable_request_timeout(), 0, 500000); },
     "INVALID_OPTION", "request_timeout is 500us"},
    {"RequestTimeoutTooLong",
     [](FetchRequest* r) { SetDuration(r->mutable_request_timeout(), 7200, 0); },
     "INVALID_OPTION", "request_timeout is 2h"},
    {"MaxRedirectsTooMany", [](FetchRequest* r) { r->set_max_redirects(51); },
     "INVALID_OPTION", "max_redirects is 51; it must be at most 50"},
    {"DeadlinePolicyUnknown",
     [](FetchRequest* r) { r->set_deadline_policy(static_cast<fetchpool::v1::DeadlinePolicy>(7)); },
     "INVALID_OPTION", "deadline_policy is 7"},
    {"IdTooLong", [](FetchRequest* r) { r->set_id(std::string(129, 'i')); }, "INVALID_OPTION",
     "129 bytes; at most 128"},
    {"IdNonPrintable", [](FetchRequest* r) { r->set_id("req\n42"); }, "INVALID_OPTION",
     "non-printable byte at offset 3"},
    {"IdNonAscii", [](FetchRequest* r) { r->set_id("r\xc3\xa9q"); }, "INVALID_OPTION",
     "non-printable"},
};

INSTANTIATE_TEST_SUITE_P(Rules, RejectTest, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.name);
                         });

struct GoodUrl {
  const char* url;
  const char* normalized;
  const char* pool_key;
};

TEST(ValidateFetchRequestTest, NormalizesUrlAndPoolKey) {
  const GoodUrl cases[] = {
      {"http://API.Example.com", "http://API.Example.com/", "http://api.example.com:80"},
      {"https://h/x?q=1#frag", "https://h/x?q=1", "https://h:443"},
      {"HTTP://h:8080/a/../b", "http://h:8080/b", "http://h:8080"},
      {"http://h:80/", "http://h:80/", "http://h:80"},
      {"https://h:443/", "https://h:443/", "https://h:443"},
      {"https://h:80/", "https://h:80/", "https://h:80"},
      {"http://[::1]:9000/x", "http://[::1]:9000/x", "http://[::1]:9000"},
      {"http://[0:0::1]/", "http://[::1]/", "http://[::1]:80"},
      {"http://[::FFFF:7F00:1]/", "http://[::FFFF:7F00:1]/", "http://[::ffff:127.0.0.1]:80"},
      {"http://[fe80::1%25eth0]/", "http://[fe80::1%25eth0]/", "http://[fe80::1%25eth0]:80"},
      {"http://127.0.0.1:8080/", "http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
      {"http://%41.example/", "http://A.example/", "http://a.example:80"},
      {"http://h/%zz?a=%20", "http://h/%zz?a=%20", "http://h:80"},
  };
  for (const GoodUrl& c : cases) {
    FetchRequest r;
    r.set_url(c.url);
    absl::StatusOr<FetchSpec> spec = ValidateFetchRequest(r);
    ASSERT_TRUE(spec.ok()) << c.url << ": " << spec.status();
    EXPECT_EQ(spec->url, c.normalized) << c.url;
    EXPECT_EQ(spec->pool_key, c.pool_key) << c.url;
  }
}

TEST(ValidateFetchRequestTest, DefaultsForAMinimalRequest) {
  absl::StatusOr<FetchSpec> spec = ValidateFetchRequest(Base());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->method, "GET");
  EXPECT_EQ(spec->url, "http://api.example.com/v1/items?x=1");
  EXPECT_EQ(spec->pool_key, "http://api.example.com:80");
  EXPECT_TRUE(spec->headers.empty());
  EXPECT_EQ(spec->max_response_bytes, 0u);
  EXPECT_FALSE(spec->wait_timeout.has_value());
  EXPECT_FALSE(spec->request_timeout.has_value());
  EXPECT_FALSE(spec->follow_redirects);
  EXPECT_EQ(spec->max_redirects, 10u);
  EXPECT_TRUE(spec->replayable);
  EXPECT_FALSE(spec->on_deadline.has_value());
  EXPECT_EQ(spec->deadline, absl::InfiniteFuture());
}

TEST(ValidateFetchRequestTest, CopiesEverythingSet) {
  FetchRequest r = Base();
  r.set_method("PATCH");
  AddHeader(&r, "Host", "virtual.example");  // virtual hosts are allowed
  AddHeader(&r, "X-Empty", "");
  AddHeader(&r, "Authorization", "Bearer t\tok");  // HTAB is legal in a value
  r.set_body("{\"a\":1}");
  r.set_max_response_bytes(1 << 30);
  SetDuration(r.mutable_wait_timeout(), 0, 1000000);  // exactly 1ms
  SetDuration(r.mutable_request_timeout(), 3600, 0);  // exactly 1h
  r.set_follow_redirects(true);
  r.set_max_redirects(50);
  r.set_deadline_policy(fetchpool::v1::DEADLINE_POLICY_ABORT);
  r.set_id("req-42 (retry)");
  absl::StatusOr<FetchSpec> spec = ValidateFetchRequest(r);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->method, "PATCH");
  EXPECT_EQ(spec->headers,
            (HeaderList{{"Host", "virtual.example"},
                        {"X-Empty", ""},
                        {"Authorization", "Bearer t\tok"}}));
  EXPECT_EQ(spec->body, "{\"a\":1}");
  EXPECT_EQ(spec->max_response_bytes, 1u << 30);
  EXPECT_EQ(spec->wait_timeout, absl::Milliseconds(1));
  EXPECT_EQ(spec->request_timeout, absl::Hours(1));
  EXPECT_TRUE(spec->follow_redirects);
  EXPECT_EQ(spec->max_redirects, 50u);
  EXPECT_EQ(spec->on_deadline, OnDeadline::kAbort);
  EXPECT_EQ(spec->id, "req-42 (retry)");
  EXPECT_FALSE(spec->replayable);  // PATCH, not marked idempotent
}

TEST(ValidateFetchRequestTest, TakingBodyMovesOnlyAValidRequestsBody) {
  FetchRequest r = Base();
  r.set_method("POST");
  r.set_body(std::string(100000, 'b'));
  r.set_id("keep-me");
  absl::StatusOr<FetchSpec> spec = ValidateFetchRequestTakingBody(&r);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->body, std::string(100000, 'b'));
  EXPECT_EQ(spec->method, "POST");
  EXPECT_EQ(spec->id, "keep-me");
  EXPECT_EQ(r.id(), "keep-me");  // the rest of the request stays

  FetchRequest bad = Base();
  bad.set_method("HEAD");
  bad.set_body("x");
  EXPECT_FALSE(ValidateFetchRequestTakingBody(&bad).ok());
  EXPECT_EQ(bad.body(), "x");

  FetchRequest empty = Base();
  absl::StatusOr<FetchSpec> no_body = ValidateFetchRequestTakingBody(&empty);
  ASSERT_TRUE(no_body.ok()) << no_body.status();
  EXPECT_EQ(no_body->body, "");
}

TEST(ValidateFetchRequestTest, DeadlinePolicies) {
  FetchRequest r = Base();
  r.set_deadline_policy(fetchpool::v1::DEADLINE_POLICY_DRAIN);
  EXPECT_EQ(ValidateFetchRequest(r)->on_deadline, OnDeadline::kDrain);
  r.set_deadline_policy(fetchpool::v1::DEADLINE_POLICY_UNSPECIFIED);
  EXPECT_FALSE(ValidateFetchRequest(r)->on_deadline.has_value());
}

TEST(ValidateFetchRequestTest, MethodCaseIsKept) {
  // Methods are case-sensitive; "get" is sent as "get" and is not GET, so it
  // is not known to be replayable.
  FetchRequest r = Base();
  r.set_method("get");
  absl::StatusOr<FetchSpec> spec = ValidateFetchRequest(r);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->method, "get");
  EXPECT_FALSE(spec->replayable);
  r.set_method(std::string(32, 'M'));  // longest allowed
  EXPECT_TRUE(ValidateFetchRequest(r).ok());
  r.set_method("X-CUSTOM.1~!");
  EXPECT_TRUE(ValidateFetchRequest(r).ok());
}

TEST(ValidateFetchRequestTest, Replayable) {
  for (const char* method : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    FetchRequest r = Base();
    r.set_method(method);
    EXPECT_TRUE(ValidateFetchRequest(r)->replayable) << method;
  }
  for (const char* method : {"POST", "PATCH", "PROPFIND", "put"}) {
    FetchRequest r = Base();
    r.set_method(method);
    EXPECT_FALSE(ValidateFetchRequest(r)->replayable) << method;
    r.set_idempotent(true);
    EXPECT_TRUE(ValidateFetchRequest(r)->replayable) << method;
  }
}

TEST(ValidateFetchRequestTest, BodyRules) {
  FetchRequest r = Base();
  r.set_body("query");  // GET with a body: some search APIs take one
  EXPECT_TRUE(ValidateFetchRequest(r).ok());
  r.set_method("HEAD");
  r.clear_body();
  EXPECT_TRUE(ValidateFetchRequest(r).ok());
  r.set_method("POST");
  r.set_body(std::string(64 << 20, 'b'));  // exactly 64 MiB
  EXPECT_TRUE(ValidateFetchRequest(r).ok());
}

TEST(ValidateFetchRequestTest, HeaderLimitsAreInclusive) {
  FetchRequest r = Base();
  for (int i = 0; i < 100; ++i) AddHeader(&r, "X-N", "v");
  EXPECT_TRUE(ValidateFetchRequest(r).ok());
  FetchRequest big = Base();
  AddHeader(&big, "X-Big", std::string(64 * 1024 - 5, 'v'));  // 5 + value = 64 KiB
  EXPECT_TRUE(ValidateFetchRequest(big).ok());
}

TEST(ValidateFetchRequestTest, MaxRedirectsZeroMeansTen) {
  FetchRequest r = Base();
  r.set_follow_redirects(true);
  EXPECT_EQ(ValidateFetchRequest(r)->max_redirects, 10u);
  r.set_max_redirects(3);
  EXPECT_EQ(ValidateFetchRequest(r)->max_redirects, 3u);
}

TEST(ValidateFetchRequestTest, UrlAtTheSizeLimitIsAccepted) {
  FetchRequest r;
  std::string url = "http://h/";
  url += std::string(8 * 1024 - url.size(), 'a');
  r.set_url(url);
  EXPECT_TRUE(ValidateFetchRequest(r).ok());
}

TEST(ValidateFetchRequestTest, QuotesAreTruncatedAndEscaped) {
  FetchRequest r = Base();
  r.set_method(std::string(100, '\x01'));
  absl::StatusOr<FetchSpec> spec = ValidateFetchRequest(r);
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr("\\x01\\x01"));
  EXPECT_THAT(spec.status().message(), HasSubstr("... (100 bytes)"));
  EXPECT_THAT(spec.status().message(), Not(HasSubstr("\x01")));
  EXPECT_LT(spec.status().message().size(), 200u);
}

TEST(NormalizePoolKeyTest, CanonicalForms) {
  EXPECT_EQ(*NormalizePoolKey("http://api:80"), "http://api:80");
  EXPECT_EQ(*NormalizePoolKey("HTTP://API"), "http://api:80");
  EXPECT_EQ(*NormalizePoolKey("https://Api.Example/"), "https://api.example:443");
  EXPECT_EQ(*NormalizePoolKey("http://[::1]:8080"), "http://[::1]:8080");
}

TEST(NormalizePoolKeyTest, RejectsWhatIsNotAPoolKey) {
  EXPECT_EQ(ReasonOf(NormalizePoolKey("http://api:80/v1").status()), "INVALID_URL");
  EXPECT_THAT(NormalizePoolKey("http://api:80/v1").status().message(),
              HasSubstr("e.g. http://api:80"));
  EXPECT_EQ(ReasonOf(NormalizePoolKey("http://api?x").status()), "INVALID_URL");
  EXPECT_EQ(ReasonOf(NormalizePoolKey("api:80").status()), "INVALID_URL");  // host:port
  EXPECT_EQ(ReasonOf(NormalizePoolKey("api").status()), "INVALID_URL");
  EXPECT_EQ(ReasonOf(NormalizePoolKey("ftp://api").status()), "UNSUPPORTED_SCHEME");
  EXPECT_EQ(ReasonOf(NormalizePoolKey("").status()), "INVALID_URL");
}

// Issue 11 part 4: what hygiene still lets through.
TEST(ValidateFetchRequestTest, HygieneAcceptsWhatIsLegal) {
  FetchRequest r = Base();
  AddHeader(&r, "X-Tab", "a\tb");           // HTAB is legal in a value
  AddHeader(&r, "X-Obs", "caf\xc3\xa9");     // obs-text (bytes >= 0x80) passes through
  AddHeader(&r, "X-Visible", " !~ ");       // SP and every visible byte
  AddHeader(&r, "X-Proxy", "1");            // only names starting with Proxy- are refused
  AddHeader(&r, "Host", "virtual.example:8080");
  EXPECT_TRUE(ValidateFetchRequest(r).ok()) << ValidateFetchRequest(r).status();
  for (const char* host : {"[::1]:80", "127.0.0.1", "xn--bcher-kva.example", "a_b.example"}) {
    FetchRequest h = Base();
    AddHeader(&h, "Host", host);
    EXPECT_TRUE(ValidateFetchRequest(h).ok()) << host;
  }
  // TRACE stays a valid method here: the egress profile refuses it
  // (METHOD_DENIED), not validation.
  FetchRequest trace = Base();
  trace.set_method("TRACE");
  absl::StatusOr<FetchSpec> spec = ValidateFetchRequest(trace);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->method, "TRACE");
}

}  // namespace
}  // namespace fetchpool
