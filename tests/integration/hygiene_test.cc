// Redirect and request hygiene through the running service (issue 11,
// part 4): credentials never follow a redirect to another origin, a
// redirect's method and body follow what browsers and curl do, non-http(s)
// Locations are never followed, and a refused request reaches no origin.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/service_fixture.h"

namespace fetchpool::testing {
namespace {

class HygieneTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    // Another port on the same address: another origin.
    other_ = std::make_unique<TestOrigin>();
    ASSERT_TRUE(other_->Start().ok());
    StartServer(LoopbackConfig());
  }
  void TearDown() override {
    ServiceTest::TearDown();
    other_->Stop();
  }

  v1::FetchRequest RedirectTo(const std::string& to, int code) {
    v1::FetchRequest request;
    request.set_url(Url(absl::StrCat("/redirect?code=", code, "&to=", to)));
    request.set_follow_redirects(true);
    return request;
  }

  static void AddHeader(v1::FetchRequest* request, const std::string& name,
                        const std::string& value) {
    v1::Header* h = request->add_headers();
    h->set_name(name);
    h->set_value(value);
  }

  static void AddCredentials(v1::FetchRequest* request) {
    AddHeader(request, "Authorization", "Bearer secret-token");
    AddHeader(request, "Cookie", "session=secret-cookie");
    AddHeader(request, "X-Keep", "kept");
  }

  std::unique_ptr<TestOrigin> other_;
};

TEST_F(HygieneTest, CrossOriginRedirectDropsAuthorizationAndCookie) {
  v1::FetchRequest request = RedirectTo(other_->base_url() + "/dump", 302);
  AddCredentials(&request);
  CallResult r = Fetch(request);
  ASSERT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
  EXPECT_EQ(r.response.status(), 200);
  EXPECT_EQ(r.response.redirects(), 1u);
  EXPECT_EQ(other_->requests_served(), 1);
  const std::string& seen = r.response.body();  // what the second origin received
  EXPECT_FALSE(absl::StrContains(absl::AsciiStrToLower(seen), "authorization")) << seen;
  EXPECT_FALSE(absl::StrContains(absl::AsciiStrToLower(seen), "cookie")) << seen;
  EXPECT_FALSE(absl::StrContains(seen, "secret")) << seen;
  EXPECT_TRUE(absl::StrContains(seen, "X-Keep: kept")) << seen;
}

TEST_F(HygieneTest, SameOriginRedirectKeepsCredentials) {
  v1::FetchRequest request = RedirectTo("/dump", 302);
  AddCredentials(&request);
  CallResult r = Fetch(request);
  ASSERT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
  const std::string& seen = r.response.body();
  EXPECT_TRUE(absl::StrContains(seen, "Authorization: Bearer secret-token")) << seen;
  EXPECT_TRUE(absl::StrContains(seen, "Cookie: session=secret-cookie")) << seen;
}

TEST_F(HygieneTest, SeeOtherBecomesGetWithoutBodyAnd307KeepsIt) {
  v1::FetchRequest request = RedirectTo(other_->base_url() + "/dump", 303);
  request.set_method("POST");
  request.set_body("the-body");
  AddHeader(&request, "Content-Type", "application/json");
  CallResult r = Fetch(request);
  ASSERT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
  std::string seen = r.response.body();
  EXPECT_TRUE(absl::StartsWith(seen, "GET\n")) << seen;
  EXPECT_FALSE(absl::StrContains(seen, "the-body")) << seen;
  EXPECT_FALSE(absl::StrContains(absl::AsciiStrToLower(seen), "content-type")) << seen;

  request.set_url(Url(absl::StrCat("/redirect?code=307&to=", other_->base_url(), "/dump")));
  r = Fetch(request);
  ASSERT_TRUE(r.status.ok()) << r.reason << ": " << r.status.error_message();
  seen = r.response.body();
  EXPECT_TRUE(absl::StartsWith(seen, "POST\n")) << seen;
  EXPECT_TRUE(absl::StrContains(seen, "Content-Type: application/json")) << seen;
  EXPECT_TRUE(absl::EndsWith(seen, "\nthe-body")) << seen;
}

TEST_F(HygieneTest, RedirectToFileIsDenied) {
  CallResult r = Fetch(RedirectTo("file:///etc/passwd", 302));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(r.reason, "DESTINATION_DENIED");
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "file")) << r.status.error_message();
}

// A refused request reaches no origin: not a connection, not a byte.
TEST_F(HygieneTest, RefusedRequestsReachNoOrigin) {
  v1::FetchRequest proxy;
  proxy.set_url(Url("/dump"));
  AddHeader(&proxy, "Proxy-Authorization", "Basic dTpw");
  CallResult r = Fetch(proxy);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.reason, "INVALID_HEADER");

  v1::FetchRequest control;
  control.set_url(Url("/dump"));
  AddHeader(&control, "X-A", std::string("a\x01", 2));
  r = Fetch(control);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.reason, "INVALID_HEADER");

  // The default egress profile refuses a caller's Host and TRACE, in the
  // engine before any pool work.
  v1::FetchRequest host;
  host.set_url(Url("/dump"));
  AddHeader(&host, "Host", "internal.example");
  r = Fetch(host);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.reason, "INVALID_HEADER");

  v1::FetchRequest trace;
  trace.set_method("TRACE");
  trace.set_url(Url("/dump"));
  r = Fetch(trace);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.reason, "METHOD_DENIED");

  EXPECT_EQ(origin_->connections_accepted(), 0);
  EXPECT_EQ(origin_->requests_served(), 0);
}

}  // namespace
}  // namespace fetchpool::testing
