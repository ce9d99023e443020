#include "tests/origin/test_origin.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using fetchpool::testing::TestOrigin;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Bounds every single socket read or write and every curl transfer, so a
// broken origin fails a test instead of hanging it.
constexpr int kIoTimeoutSeconds = 5;

std::unique_ptr<TestOrigin> StartOrigin(TestOrigin::Options options = {}) {
  auto origin = std::make_unique<TestOrigin>(options);
  const absl::Status status = origin->Start();
  EXPECT_TRUE(status.ok()) << status;
  return origin;
}

bool WaitUntil(const std::function<bool()>& done,
               absl::Duration timeout = absl::Seconds(5)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

std::string Get(absl::string_view target, absl::string_view headers = "") {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                      headers, "\r\n");
}

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Every value of a header, name compared case-insensitively.
  std::vector<std::string> Values(absl::string_view name) const {
    std::vector<std::string> values;
    for (const auto& [header, value] : headers) {
      if (absl::EqualsIgnoreCase(header, name)) values.push_back(value);
    }
    return values;
  }
  std::string Header(absl::string_view name) const {
    const std::vector<std::string> values = Values(name);
    return values.empty() ? "" : values.front();
  }
  bool Has(absl::string_view name) const { return !Values(name).empty(); }
};

// A plain blocking TCP client with socket timeouts: it sees exactly what the
// origin puts on the wire, FIN and RST included.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const timeval timeout = {kIoTimeoutSeconds, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "connect to port " << port << ": " << strerror(errno);
      close(fd_);
      fd_ = -1;
    }
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool Send(absl::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Status line and headers only; the body stays unread.
  bool ReadHead(HttpResponse* out) {
    size_t end = 0;
    if (!FillUntil("\r\n\r\n", &end)) return false;
    const std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    const std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
    const std::vector<absl::string_view> status_line =
        absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    *out = HttpResponse();
    if (status_line.size() < 2 ||
        !absl::SimpleAtoi(status_line[1], &out->status)) {
      return false;
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos) return false;
      out->headers.emplace_back(
          std::string(lines[i].substr(0, colon)),
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
    }
    return true;
  }

  // One whole response (an interim 1xx one counts as a response).
  bool ReadResponse(HttpResponse* out) {
    if (!ReadHead(out)) return false;
    if (out->status < 200 || out->status == 204 || out->status == 304) {
      return true;
    }
    if (absl::EqualsIgnoreCase(out->Header("transfer-encoding"), "chunked")) {
      return ReadChunkedBody(&out->body);
    }
    size_t length = 0;
    if (!absl::SimpleAtoi(out->Header("content-length"), &length)) {
      return ReadToEnd(&out->body) == 0;
    }
    if (!Fill(length)) return false;
    out->body = buf_.substr(0, length);
    buf_.erase(0, length);
    return true;
  }

  // Reads until EOF or an error. Returns 0 for EOF, else the errno:
  // ECONNRESET for an RST, EAGAIN when the timeout expired.
  int ReadToEnd(std::string* out) {
    out->append(buf_);
    buf_.clear();
    for (;;) {
      char block[16384];
      const ssize_t n = recv(fd_, block, sizeof block, 0);
      if (n == 0) return 0;
      if (n < 0) return errno;
      out->append(block, static_cast<size_t>(n));
    }
  }

 private:
  bool Fill(size_t n) {
    while (buf_.size() < n) {
      char block[16384];
      const ssize_t got = recv(fd_, block, sizeof block, 0);
      if (got <= 0) return false;
      buf_.append(block, static_cast<size_t>(got));
    }
    return true;
  }

  bool FillUntil(absl::string_view delimiter, size_t* pos) {
    for (;;) {
      *pos = buf_.find(delimiter.data(), 0, delimiter.size());
      if (*pos != std::string::npos) return true;
      if (!Fill(buf_.size() + 1)) return false;
    }
  }

  bool ReadChunkedBody(std::string* body) {
    for (;;) {
      size_t eol = 0;
      if (!FillUntil("\r\n", &eol)) return false;
      const size_t size =
          std::strtoul(buf_.substr(0, eol).c_str(), nullptr, 16);
      buf_.erase(0, eol + 2);
      if (!Fill(size + 2)) return false;
      body->append(buf_, 0, size);
      buf_.erase(0, size + 2);
      if (size == 0) return true;  // no trailers: "0\r\n\r\n"
    }
  }

  int fd_ = -1;
  std::string buf_;
};

// libcurl's view: what a real HTTP client (and fetchpool's transport) sees.
struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string headers;
  std::string body;
  long new_connections = 0;
};

size_t AppendTo(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

class Curl {
 public:
  Curl() {
    static const bool initialized = curl_global_init(CURL_GLOBAL_ALL) == 0;
    EXPECT_TRUE(initialized);
    easy_ = curl_easy_init();
  }
  ~Curl() { curl_easy_cleanup(easy_); }
  Curl(const Curl&) = delete;
  Curl& operator=(const Curl&) = delete;

  CURL* get() { return easy_; }

  CurlResult Perform(const std::string& url) {
    CurlResult result;
    curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, kIoTimeoutSeconds * 1000L);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, AppendTo);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &result.body);
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, AppendTo);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, &result.headers);
    result.code = curl_easy_perform(easy_);
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &result.status);
    curl_easy_getinfo(easy_, CURLINFO_NUM_CONNECTS, &result.new_connections);
    return result;
  }

 private:
  CURL* easy_ = nullptr;
};

// ------------------------------------------------------ counting requests

TEST(TestOriginTest, CountCountsPerKeyAndHitsReportsIt) {
  auto origin = StartOrigin();
  Curl curl;
  EXPECT_EQ(curl.Perform(origin->base_url() + "/hits?key=a").body, "0");
  CurlResult result = curl.Perform(origin->base_url() + "/count?key=a");
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "counted");
  curl.Perform(origin->base_url() + "/count?key=a");
  curl.Perform(origin->base_url() + "/count?key=b%20c");

  EXPECT_EQ(origin->hits("a"), 2);
  EXPECT_EQ(origin->hits("b c"), 1);
  EXPECT_EQ(origin->hits("never"), 0);
  // /hits is not counted itself: reading twice gives the same answer.
  EXPECT_EQ(curl.Perform(origin->base_url() + "/hits?key=a").body, "2");
  EXPECT_EQ(curl.Perform(origin->base_url() + "/hits?key=a").body, "2");
  EXPECT_EQ(curl.Perform(origin->base_url() + "/hits?key=b%20c").body, "1");

  EXPECT_EQ(curl.Perform(origin->base_url() + "/count").status, 400);
  EXPECT_EQ(curl.Perform(origin->base_url() + "/hits?key=").status, 400);
  EXPECT_EQ(curl.Perform(origin->base_url() + "/count?key=a&ms=x").status, 400);
  EXPECT_EQ(origin->hits("a"), 2);
}

// The count is taken before the sleep, so a test can see that a slow request
// arrived while it is still in progress; Stop() does not wait for the sleep.
TEST(TestOriginTest, CountIsVisibleDuringItsSleepAndStopIsPrompt) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(client.Send(Get("/count?key=slow&ms=60000")));
  ASSERT_TRUE(WaitUntil([&] { return origin->hits("slow") == 1; }));
  {
    Curl curl;
    EXPECT_EQ(curl.Perform(origin->base_url() + "/hits?key=slow").body, "1");
  }
  origin->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  std::string received;
  EXPECT_EQ(client.ReadToEnd(&received), 0);
  EXPECT_THAT(received, IsEmpty());
}

TEST(TestOriginTest, ListensOnIpv6Loopback) {
  TestOrigin::Options options;
  options.bind_address = "::1";
  TestOrigin origin(options);
  const absl::Status status = origin.Start();
  // EADDRNOTAVAIL or EAFNOSUPPORT: a sandbox without IPv6.
  if (absl::StrContains(status.message(), "Cannot assign") ||
      absl::StrContains(status.message(), "not supported")) {
    GTEST_SKIP() << "no IPv6 loopback here: " << status;
  }
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(origin.base_url(), absl::StrCat("http://[::1]:", origin.port()));
  Curl curl;
  const CurlResult result = curl.Perform(origin.base_url() + "/status/204");
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 204);

  TestOrigin::Options bad;
  bad.bind_address = "localhost";
  EXPECT_TRUE(absl::IsInvalidArgument(TestOrigin(bad).Start()));
}

// ---------------------------------------------------------------- keep-alive

TEST(TestOriginTest, KeepAliveReusesTheConnection) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  HttpResponse first;
  HttpResponse second;
  ASSERT_TRUE(client.Send(Get("/echo")));
  ASSERT_TRUE(client.ReadResponse(&first));
  ASSERT_TRUE(client.Send(Get("/echo")));
  ASSERT_TRUE(client.ReadResponse(&second));

  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.Header("X-Connection-Id"), "1");
  EXPECT_EQ(second.Header("X-Connection-Id"), "1");
  EXPECT_EQ(first.Header("X-Request-On-Connection"), "1");
  EXPECT_EQ(second.Header("X-Request-On-Connection"), "2");
  EXPECT_FALSE(second.Has("Connection"));
  EXPECT_EQ(origin->connections_accepted(), 1);
  EXPECT_EQ(origin->requests_served(), 2);
  EXPECT_EQ(origin->open_connections(), 1);
}

TEST(TestOriginTest, CurlReusesTheConnection) {
  auto origin = StartOrigin();
  Curl curl;
  const CurlResult first = curl.Perform(origin->base_url() + "/echo");
  const CurlResult second = curl.Perform(origin->base_url() + "/echo");
  ASSERT_EQ(first.code, CURLE_OK) << curl_easy_strerror(first.code);
  ASSERT_EQ(second.code, CURLE_OK) << curl_easy_strerror(second.code);
  EXPECT_EQ(first.new_connections, 1);
  EXPECT_EQ(second.new_connections, 0);
  EXPECT_THAT(second.headers, HasSubstr("X-Connection-Id: 1\r\n"));
  EXPECT_THAT(second.headers, HasSubstr("X-Request-On-Connection: 2\r\n"));
}

TEST(TestOriginTest, PipelinedRequestsAreAnsweredInOrder) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send(Get("/status/201") + Get("/status/202")));
  HttpResponse first;
  HttpResponse second;
  ASSERT_TRUE(client.ReadResponse(&first));
  ASSERT_TRUE(client.ReadResponse(&second));
  EXPECT_EQ(first.status, 201);
  EXPECT_EQ(second.status, 202);
  EXPECT_EQ(second.Header("X-Request-On-Connection"), "2");
}

TEST(TestOriginTest, ClientConnectionCloseIsHonoured) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send(Get("/echo", "Connection: close\r\n")));
  HttpResponse response;
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.Header("Connection"), "close");
  std::string rest;
  EXPECT_EQ(client.ReadToEnd(&rest), 0);
  EXPECT_THAT(rest, IsEmpty());
}

TEST(TestOriginTest, Http10ClosesUnlessKeepAliveWasAsked) {
  auto origin = StartOrigin();
  {
    RawClient client(origin->port());
    ASSERT_TRUE(client.Send("GET /echo HTTP/1.0\r\n\r\n"));
    HttpResponse response;
    ASSERT_TRUE(client.ReadResponse(&response));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.Header("Connection"), "close");
    std::string rest;
    EXPECT_EQ(client.ReadToEnd(&rest), 0);
  }
  RawClient client(origin->port());
  const std::string request =
      "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  HttpResponse first;
  HttpResponse second;
  ASSERT_TRUE(client.Send(request));
  ASSERT_TRUE(client.ReadResponse(&first));
  EXPECT_EQ(first.Header("Connection"), "keep-alive");
  ASSERT_TRUE(client.Send(request));
  ASSERT_TRUE(client.ReadResponse(&second));
  EXPECT_EQ(second.Header("X-Request-On-Connection"), "2");
}

// --------------------------------------------------------------------- echo

TEST(TestOriginTest, EchoReturnsMethodBodyAndXHeaders) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send(
      "PUT /echo?ignored=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "X-Trace-Id: abc\r\nx-lower: v1\r\nx-lower: v2\r\nAccept: */*\r\n"
      "content-length: 11\r\n\r\nhello world"));
  HttpResponse response;
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hello world");
  EXPECT_EQ(response.Header("X-Method"), "PUT");
  EXPECT_EQ(response.Header("X-Echo-X-Trace-Id"), "abc");
  EXPECT_THAT(response.Values("X-Echo-x-lower"),
              ::testing::ElementsAre("v1", "v2"));
  EXPECT_FALSE(response.Has("X-Echo-Accept"));
  EXPECT_EQ(response.Header("Content-Length"), "11");
}

TEST(TestOriginTest, EchoDecodesAChunkedRequestBody) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send(
      "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n1\r\n \r\nA\r\nworld12345\r\n"
      "0\r\nX-Trailer: ignored\r\n\r\n"));
  HttpResponse response;
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.body, "hello world12345");
  EXPECT_EQ(response.Header("X-Method"), "POST");

  // The framing was consumed exactly: the next request parses.
  ASSERT_TRUE(client.Send(Get("/status/202")));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.status, 202);
}

size_t ReadFromString(char* buffer, size_t size, size_t count, void* source) {
  auto* remaining = static_cast<absl::string_view*>(source);
  const size_t n = std::min(size * count, remaining->size());
  std::memcpy(buffer, remaining->data(), n);
  remaining->remove_prefix(n);
  return n;
}

TEST(TestOriginTest, CurlChunkedUploadIsEchoed) {
  auto origin = StartOrigin();
  Curl curl;
  const std::string payload(100000, 'p');
  absl::string_view remaining = payload;
  curl_slist* headers =
      curl_slist_append(nullptr, "Transfer-Encoding: chunked");
  headers = curl_slist_append(headers, "X-Upload: yes");
  curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl.get(), CURLOPT_READFUNCTION, ReadFromString);
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, &remaining);
  const CurlResult result = curl.Perform(origin->base_url() + "/echo");
  curl_slist_free_all(headers);
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body.size(), payload.size());
  EXPECT_EQ(result.body, payload);
  EXPECT_THAT(result.headers, HasSubstr("X-Echo-X-Upload: yes\r\n"));
}

TEST(TestOriginTest, ExpectContinueGetsAnInterimResponse) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send(
      "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
      "Expect: 100-continue\r\n\r\n"));
  HttpResponse response;
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.status, 100);
  ASSERT_TRUE(client.Send("body"));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "body");
}

TEST(TestOriginTest, MalformedRequestGets400AndClose) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send("NONSENSE\r\n\r\n"));
  HttpResponse response;
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.Header("Connection"), "close");
  std::string rest;
  EXPECT_EQ(client.ReadToEnd(&rest), 0);
}

// ------------------------------------------------------------ plain routes

TEST(TestOriginTest, StatusRoute) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  HttpResponse response;
  ASSERT_TRUE(client.Send(Get("/status/503")));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "status 503");

  // 204 has no body and no Content-Length; the connection stays usable.
  ASSERT_TRUE(client.Send(Get("/status/204")));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.status, 204);
  EXPECT_FALSE(response.Has("Content-Length"));

  ASSERT_TRUE(client.Send(Get("/status/abc")));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.status, 400);

  ASSERT_TRUE(client.Send(Get("/no/such/route")));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.Header("X-Request-On-Connection"), "4");
}

TEST(TestOriginTest, BodyRoutesViaCurl) {
  auto origin = StartOrigin();
  Curl curl;
  CurlResult result = curl.Perform(origin->base_url() + "/bytes?n=100000");
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.body, std::string(100000, 'x'));
  EXPECT_THAT(result.headers, HasSubstr("Content-Length: 100000\r\n"));

  result = curl.Perform(origin->base_url() + "/chunked?n=10000&chunk=333");
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.body, std::string(10000, 'x'));
  EXPECT_THAT(result.headers, HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(result.headers, ::testing::Not(HasSubstr("Content-Length")));

  absl::Time start = absl::Now();
  result = curl.Perform(origin->base_url() +
                        "/slowbody?n=30&interval_ms=20&chunk=10");
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.body, std::string(30, 'x'));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(60));

  start = absl::Now();
  result = curl.Perform(origin->base_url() + "/sleep?ms=100");
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.body, "slept");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));

  // HEAD gets the head only and leaves the connection reusable.
  curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  result = curl.Perform(origin->base_url() + "/bytes?n=5000");
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_THAT(result.body, IsEmpty());
  EXPECT_THAT(result.headers, HasSubstr("Content-Length: 5000\r\n"));
  curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPGET, 1L);
  result = curl.Perform(origin->base_url() + "/bytes?n=10");
  EXPECT_EQ(result.new_connections, 0);
  EXPECT_EQ(origin->connections_accepted(), 1);

  result = curl.Perform(origin->base_url() + "/bytes?n=-1");
  EXPECT_EQ(result.status, 400);
}

TEST(TestOriginTest, RedirectAndCloseViaCurl) {
  auto origin = StartOrigin();
  Curl curl;
  char* target = curl_easy_escape(
      curl.get(), (origin->base_url() + "/echo?a=1").c_str(), 0);
  const std::string redirect =
      absl::StrCat(origin->base_url(), "/redirect?code=307&to=", target);
  curl_free(target);
  CurlResult result = curl.Perform(redirect);
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 307);
  EXPECT_THAT(result.headers,
              HasSubstr("Location: " + origin->base_url() + "/echo?a=1\r\n"));

  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  result = curl.Perform(redirect);
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.status, 200);
  EXPECT_THAT(result.headers, HasSubstr("X-Method: GET\r\n"));

  result = curl.Perform(origin->base_url() + "/close");
  ASSERT_EQ(result.code, CURLE_OK) << curl_easy_strerror(result.code);
  EXPECT_THAT(result.headers, HasSubstr("Connection: close\r\n"));
  result = curl.Perform(origin->base_url() + "/echo");
  EXPECT_EQ(result.new_connections, 1);
  EXPECT_EQ(origin->connections_closed_by_server(), 1);
}

// ------------------------------------------------------------------ faults

TEST(TestOriginTest, TruncateSendsFewerBytesThenCloses) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send(Get("/truncate?promise=100&send=10")));
  HttpResponse response;
  ASSERT_TRUE(client.ReadHead(&response));
  EXPECT_EQ(response.Header("Content-Length"), "100");
  EXPECT_FALSE(response.Has("Connection"));  // the close is a surprise
  std::string body;
  EXPECT_EQ(client.ReadToEnd(&body), 0);  // FIN, not RST
  EXPECT_EQ(body, std::string(10, 'x'));
  EXPECT_EQ(origin->connections_closed_by_server(), 1);
  EXPECT_EQ(origin->open_connections(), 0);

  Curl curl;
  const CurlResult result =
      curl.Perform(origin->base_url() + "/truncate?promise=100&send=10");
  EXPECT_EQ(result.code, CURLE_PARTIAL_FILE) << curl_easy_strerror(result.code);
}

TEST(TestOriginTest, ResetYieldsAConnectionReset) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send(Get("/reset")));
  std::string received;
  EXPECT_EQ(client.ReadToEnd(&received), ECONNRESET);
  EXPECT_THAT(received, IsEmpty());
  EXPECT_EQ(origin->requests_served(), 1);
  EXPECT_EQ(origin->connections_closed_by_server(), 1);

  Curl curl;
  const CurlResult result = curl.Perform(origin->base_url() + "/reset");
  EXPECT_NE(result.code, CURLE_OK);
  EXPECT_EQ(result.status, 0);
}

TEST(TestOriginTest, ResetMidBodyDeliversThePrefixThenResets) {
  auto origin = StartOrigin();
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send(Get("/reset_mid_body?promise=1000&send=100")));
  HttpResponse response;
  ASSERT_TRUE(client.ReadHead(&response));
  EXPECT_EQ(response.Header("Content-Length"), "1000");
  std::string body;
  EXPECT_EQ(client.ReadToEnd(&body), ECONNRESET);
  EXPECT_EQ(body, std::string(100, 'x'));

  Curl curl;
  const CurlResult result = curl.Perform(
      origin->base_url() + "/reset_mid_body?promise=1000&send=100");
  EXPECT_EQ(result.code, CURLE_RECV_ERROR) << curl_easy_strerror(result.code);
  EXPECT_EQ(result.body.size(), 100u);
}

// ----------------------------------------------------------------- options

TEST(TestOriginTest, IdleCloseAfterClosesAnIdleConnection) {
  TestOrigin::Options options;
  options.idle_close_after = absl::Milliseconds(200);
  auto origin = StartOrigin(options);
  RawClient client(origin->port());
  ASSERT_TRUE(client.Send(Get("/echo")));
  HttpResponse response;
  ASSERT_TRUE(client.ReadResponse(&response));
  const absl::Time idle_since = absl::Now();
  std::string rest;
  EXPECT_EQ(client.ReadToEnd(&rest), 0);  // the server's FIN
  const absl::Duration idle = absl::Now() - idle_since;
  EXPECT_THAT(rest, IsEmpty());
  EXPECT_GE(idle, absl::Milliseconds(150));
  EXPECT_LT(idle, absl::Seconds(3));
  EXPECT_EQ(origin->connections_closed_by_server(), 1);
  EXPECT_EQ(origin->open_connections(), 0);
}

TEST(TestOriginTest, KeepAliveHintHeader) {
  {
    auto plain = StartOrigin();
    RawClient client(plain->port());
    HttpResponse response;
    ASSERT_TRUE(client.Send(Get("/echo")));
    ASSERT_TRUE(client.ReadResponse(&response));
    EXPECT_FALSE(response.Has("Keep-Alive"));
    ASSERT_TRUE(client.Send(Get("/keepalive?timeout=3")));
    ASSERT_TRUE(client.ReadResponse(&response));
    EXPECT_EQ(response.Header("Keep-Alive"), "timeout=3");
  }
  TestOrigin::Options options;
  options.keep_alive_hint_seconds = 7;
  auto origin = StartOrigin(options);
  RawClient client(origin->port());
  HttpResponse response;
  ASSERT_TRUE(client.Send(Get("/status/404")));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.Header("Keep-Alive"), "timeout=7");
  // The route's value replaces the default instead of adding a second one.
  ASSERT_TRUE(client.Send(Get("/keepalive?timeout=2")));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_THAT(response.Values("Keep-Alive"),
              ::testing::ElementsAre("timeout=2"));
}

TEST(TestOriginTest, MaxRequestsPerConnection) {
  TestOrigin::Options options;
  options.max_requests_per_connection = 2;
  auto origin = StartOrigin(options);
  RawClient client(origin->port());
  HttpResponse first;
  HttpResponse second;
  ASSERT_TRUE(client.Send(Get("/echo")));
  ASSERT_TRUE(client.ReadResponse(&first));
  EXPECT_FALSE(first.Has("Connection"));
  ASSERT_TRUE(client.Send(Get("/echo")));
  ASSERT_TRUE(client.ReadResponse(&second));
  EXPECT_EQ(second.Header("Connection"), "close");
  std::string rest;
  EXPECT_EQ(client.ReadToEnd(&rest), 0);
  EXPECT_EQ(origin->connections_closed_by_server(), 1);
  EXPECT_EQ(origin->requests_served(), 2);
}

TEST(TestOriginTest, ResponseDelayIsAddedToEveryResponse) {
  TestOrigin::Options options;
  options.response_delay = absl::Milliseconds(100);
  auto origin = StartOrigin(options);
  RawClient client(origin->port());
  HttpResponse response;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(client.Send(Get("/status/200")));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
}

TEST(TestOriginTest, InvalidOptionsAndSecondStartAreRejected) {
  TestOrigin::Options options;
  options.idle_close_after = absl::Milliseconds(-1);
  TestOrigin bad(options);
  EXPECT_EQ(bad.Start().code(), absl::StatusCode::kInvalidArgument);

  TestOrigin origin;
  ASSERT_TRUE(origin.Start().ok());
  EXPECT_EQ(origin.Start().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(origin.base_url(),
            absl::StrCat("http://127.0.0.1:", origin.port()));
  EXPECT_GT(origin.port(), 0);
}

// ------------------------------------------------------- counters and scale

TEST(TestOriginTest, CountersAndReset) {
  auto origin = StartOrigin();
  {
    RawClient client(origin->port());
    HttpResponse response;
    ASSERT_TRUE(client.Send(Get("/close")));
    ASSERT_TRUE(client.ReadResponse(&response));
  }
  {
    RawClient client(origin->port());
    HttpResponse response;
    ASSERT_TRUE(client.Send(Get("/echo")));
    ASSERT_TRUE(client.ReadResponse(&response));
    EXPECT_EQ(response.Header("X-Connection-Id"), "2");
  }
  // The second connection is closed by the client; the server notices later.
  ASSERT_TRUE(WaitUntil([&] { return origin->open_connections() == 0; }));
  EXPECT_EQ(origin->connections_accepted(), 2);
  EXPECT_EQ(origin->requests_served(), 2);
  EXPECT_EQ(origin->connections_closed_by_server(), 1);

  origin->ResetCounters();
  EXPECT_EQ(origin->connections_accepted(), 0);
  EXPECT_EQ(origin->requests_served(), 0);
  EXPECT_EQ(origin->connections_closed_by_server(), 0);

  // Connection ids keep counting across a reset.
  RawClient client(origin->port());
  HttpResponse response;
  ASSERT_TRUE(client.Send(Get("/echo")));
  ASSERT_TRUE(client.ReadResponse(&response));
  EXPECT_EQ(response.Header("X-Connection-Id"), "3");
  EXPECT_EQ(origin->connections_accepted(), 1);
}

TEST(TestOriginTest, ServesManyConcurrentConnections) {
  constexpr int kClients = 200;
  auto origin = StartOrigin();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(origin->port()));
  }
  const absl::Time start = absl::Now();
  for (auto& client : clients) ASSERT_TRUE(client->Send(Get("/sleep?ms=200")));
  for (auto& client : clients) {
    HttpResponse response;
    ASSERT_TRUE(client->ReadResponse(&response));
    EXPECT_EQ(response.body, "slept");
  }
  // Served in parallel: one connection at a time would take 40 s.
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  EXPECT_EQ(origin->open_connections(), kClients);
  clients.clear();
  EXPECT_TRUE(WaitUntil([&] { return origin->open_connections() == 0; }));
}

TEST(TestOriginTest, ThousandsOfConnectionsLeaveNoThreadsBehind) {
  constexpr int kConnections = 2000;
  auto origin = StartOrigin();
  for (int i = 0; i < kConnections; ++i) {
    RawClient client(origin->port());
    HttpResponse response;
    ASSERT_TRUE(client.Send(Get("/bytes?n=16", "Connection: close\r\n")));
    ASSERT_TRUE(client.ReadResponse(&response));
  }
  EXPECT_EQ(origin->connections_accepted(), kConnections);
  EXPECT_EQ(origin->requests_served(), kConnections);
  EXPECT_TRUE(WaitUntil([&] { return origin->connection_threads() == 0; }))
      << origin->connection_threads() << " threads left";
  EXPECT_EQ(origin->open_connections(), 0);
}

// ------------------------------------------------------------------- Stop()

TEST(TestOriginTest, StopReturnsPromptlyWithOpenAndSleepingConnections) {
  auto origin = StartOrigin();
  RawClient idle(origin->port());
  RawClient sleeper(origin->port());
  HttpResponse response;
  ASSERT_TRUE(idle.Send(Get("/echo")));
  ASSERT_TRUE(idle.ReadResponse(&response));
  ASSERT_TRUE(sleeper.Send(Get("/sleep?ms=60000")));
  ASSERT_TRUE(WaitUntil([&] { return origin->requests_served() == 2; }));

  const absl::Time start = absl::Now();
  origin->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(origin->open_connections(), 0);
  EXPECT_EQ(origin->connection_threads(), 0u);

  std::string received;
  EXPECT_EQ(sleeper.ReadToEnd(&received), 0);
  EXPECT_THAT(received, IsEmpty());  // no response to the interrupted sleep
  EXPECT_EQ(idle.ReadToEnd(&received), 0);

  origin->Stop();  // idempotent; the destructor calls it a third time
}

TEST(TestOriginTest, StopRefusesNewConnections) {
  auto origin = StartOrigin();
  const int port = origin->port();
  origin->Stop();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_NE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  close(fd);
}

}  // namespace
