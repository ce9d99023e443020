#include "engine/egress_profile.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>
#include <string>

#include "common/reason.h"
#include "engine/egress_profile_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fetchpool {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const EgressProfile> Make(EgressProfileSettings s) {
  if (s.name.empty()) s.name = "p";
  absl::StatusOr<std::shared_ptr<const EgressProfile>> p = EgressProfile::Create(s);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : nullptr;
}

FetchSpec Spec(const std::string& method, const std::string& pool_key) {
  FetchSpec spec;
  spec.method = method;
  spec.pool_key = pool_key;
  spec.url = pool_key + "/";
  return spec;
}

sockaddr_storage V4(const char* ip) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  inet_pton(AF_INET, ip, &in->sin_addr);
  return ss;
}

TEST(HostPatternTest, ExactAndWildcard) {
  HostPattern exact = *HostPattern::Parse("API.Example.com.");
  EXPECT_TRUE(exact.Matches("api.example.com"));
  EXPECT_TRUE(exact.Matches("API.EXAMPLE.COM."));
  EXPECT_FALSE(exact.Matches("x.api.example.com"));
  HostPattern wild = *HostPattern::Parse("*.example.com");
  EXPECT_TRUE(wild.Matches("a.example.com"));
  EXPECT_TRUE(wild.Matches("b.a.Example.com."));
  EXPECT_FALSE(wild.Matches("example.com"));  // documented: subdomains only
  EXPECT_FALSE(wild.Matches("badexample.com"));
  EXPECT_TRUE(HostPattern::Parse("[::1]")->Matches("::1"));
  EXPECT_FALSE(HostPattern::Parse("").ok());
  EXPECT_FALSE(HostPattern::Parse("a*.example.com").ok());
  EXPECT_FALSE(HostPattern::Parse("*").ok());
}

TEST(HostPatternTest, Within) {
  auto p = [](const char* t) { return *HostPattern::Parse(t); };
  EXPECT_TRUE(p("a.example.com").Within(p("*.example.com")));
  EXPECT_TRUE(p("*.a.example.com").Within(p("*.example.com")));
  EXPECT_TRUE(p("*.example.com").Within(p("*.example.com")));
  EXPECT_FALSE(p("example.com").Within(p("*.example.com")));
  EXPECT_FALSE(p("*.example.com").Within(p("a.example.com")));
  EXPECT_TRUE(p("a.example.com").Within(p("A.example.com.")));
}

TEST(HostOfPoolKeyTest, Forms) {
  EXPECT_EQ(HostOfPoolKey("http://api:80"), "api");
  EXPECT_EQ(HostOfPoolKey("https://[::1]:443"), "::1");
  EXPECT_EQ(HostOfPoolKey("http://10.0.0.1:8080"), "10.0.0.1");
}

TEST(EgressProfileTest, MethodsDefaultToAllButTraceAndConnect) {
  auto p = Make({});
  EXPECT_TRUE(p->CheckRequest(Spec("GET", "http://a:80")).ok());
  EXPECT_TRUE(p->CheckRequest(Spec("PATCH", "http://a:80")).ok());
  absl::Status trace = p->CheckRequest(Spec("TRACE", "http://a:80"));
  EXPECT_EQ(trace.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(trace), "METHOD_DENIED");
  EXPECT_EQ(ReasonOf(p->CheckRequest(Spec("CONNECT", "http://a:80"))), "METHOD_DENIED");

  EgressProfileSettings s;
  s.methods = {"get", "HEAD"};
  auto only = Make(s);
  EXPECT_TRUE(only->CheckRequest(Spec("GET", "http://a:80")).ok());
  absl::Status post = only->CheckRequest(Spec("POST", "http://a:80"));
  EXPECT_EQ(ReasonOf(post), "METHOD_DENIED");
  EXPECT_THAT(post.message(), HasSubstr("GET, HEAD"));
}

TEST(EgressProfileTest, HostHeaderOnlyWhenAllowed) {
  FetchSpec spec = Spec("GET", "http://a:80");
  spec.headers = {{"X-Id", "1"}, {"hOST", "internal"}};
  absl::Status refused = Make({})->CheckRequest(spec);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(refused), "INVALID_HEADER");
  EgressProfileSettings s;
  s.allow_host_header = true;
  EXPECT_TRUE(Make(s)->CheckRequest(spec).ok());
}

TEST(EgressProfileTest, HostPatternsDenyAllowAndAllowListOnly) {
  EgressProfileSettings s;
  s.deny_hosts = {"*.internal.example.com", "metadata.google.internal"};
  s.allow_hosts = {"api.internal.example.com"};
  auto p = Make(s);
  absl::Status denied = p->CheckRequest(Spec("GET", "http://db.internal.example.com:80"));
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReasonOf(denied), "DESTINATION_DENIED");
  EXPECT_THAT(denied.message(), HasSubstr("*.internal.example.com"));
  EXPECT_EQ(ReasonOf(p->CheckRequest(Spec("GET", "http://Metadata.Google.Internal.:80"))),
            "DESTINATION_DENIED");
  EXPECT_TRUE(p->CheckRequest(Spec("GET", "http://api.internal.example.com:80")).ok());
  EXPECT_TRUE(p->CheckRequest(Spec("GET", "http://example.org:80")).ok());

  EgressProfileSettings only;
  only.allow_list_only = true;
  only.allow_hosts = {"*.example.com"};
  only.allow_cidrs = {"10.0.0.0/8"};
  auto q = Make(only);
  EXPECT_TRUE(q->CheckRequest(Spec("GET", "https://a.example.com:443")).ok());
  EXPECT_TRUE(q->CheckRequest(Spec("GET", "http://10.1.2.3:80")).ok());  // literal in allow_cidrs
  EXPECT_EQ(ReasonOf(q->CheckRequest(Spec("GET", "http://example.org:80"))),
            "DESTINATION_DENIED");
  EXPECT_EQ(ReasonOf(q->CheckRequest(Spec("GET", "http://11.1.2.3:80"))),
            "DESTINATION_DENIED");
  EXPECT_TRUE(q->CheckHost("b.example.com").ok());
  EXPECT_FALSE(q->CheckHost("evil.test").ok());
}

TEST(EgressProfileTest, AddressesAndExplainNameTheProfile) {
  EgressProfileSettings s;
  s.name = "strict";
  s.deny_private_networks = true;
  auto p = Make(s);
  sockaddr_storage private_addr = V4("10.0.0.1");
  EXPECT_FALSE(p->AllowsAddress(reinterpret_cast<const sockaddr*>(&private_addr)));
  EXPECT_THAT(p->Explain(reinterpret_cast<const sockaddr*>(&private_addr)),
              HasSubstr("egress profile \"strict\""));
  sockaddr_storage public_addr = V4("8.8.8.8");
  EXPECT_TRUE(p->AllowsAddress(reinterpret_cast<const sockaddr*>(&public_addr)));
}

TEST(EgressProfileTest, CreateRefusesBadEntriesNamingTheProfile) {
  EgressProfileSettings s;
  s.name = "bad";
  s.allow_cidrs = {"10.0.0.1/8"};
  absl::StatusOr<std::shared_ptr<const EgressProfile>> p = EgressProfile::Create(s);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("egress profile \"bad\": allow_cidrs entry 1"));
  s.allow_cidrs.clear();
  s.methods = {"GE T"};
  EXPECT_FALSE(EgressProfile::Create(s).ok());
  s.methods.clear();
  s.deny_hosts = {"a b"};
  EXPECT_FALSE(EgressProfile::Create(s).ok());
  s.deny_hosts.clear();
  s.credential_headers = {"X-Api-Key", ""};
  EXPECT_FALSE(EgressProfile::Create(s).ok());
}

TEST(NarrowsTest, EachDimension) {
  EgressProfileSettings loose;
  loose.allow_cidrs = {"10.0.0.0/8"};
  loose.deny_cidrs = {"203.0.113.0/24"};
  loose.deny_hosts = {"*.corp.example.com"};
  loose.allow_hosts = {"*.example.com"};
  loose.credential_headers = {"x-api-key"};
  auto L = Make(loose);
  EXPECT_TRUE(Narrows(*L, *L));

  auto narrowed = [&](auto change) {
    EgressProfileSettings s = loose;
    change(s);
    return Narrows(*Make(s), *L);
  };
  // Stricter in one dimension: narrows.
  EXPECT_TRUE(narrowed([](EgressProfileSettings& s) { s.methods = {"GET"}; }));
  EXPECT_TRUE(narrowed([](EgressProfileSettings& s) { s.deny_private_networks = true; }));
  EXPECT_TRUE(narrowed([](EgressProfileSettings& s) { s.allow_list_only = true; }));
  EXPECT_TRUE(narrowed([](EgressProfileSettings& s) { s.allow_cidrs = {"10.1.0.0/16"}; }));
  EXPECT_TRUE(narrowed([](EgressProfileSettings& s) { s.allow_cidrs.clear(); }));
  EXPECT_TRUE(narrowed([](EgressProfileSettings& s) { s.deny_cidrs = {"203.0.0.0/16"}; }));
  EXPECT_TRUE(narrowed([](EgressProfileSettings& s) { s.deny_hosts = {"*.example.com"}; }));
  EXPECT_TRUE(narrowed([](EgressProfileSettings& s) { s.allow_hosts = {"a.example.com"}; }));
  EXPECT_TRUE(narrowed(
      [](EgressProfileSettings& s) { s.credential_headers = {"x-api-key", "x-token"}; }));
  // Looser in one dimension: does not.
  EXPECT_FALSE(narrowed([](EgressProfileSettings& s) { s.allow_host_header = true; }));
  EXPECT_FALSE(narrowed([](EgressProfileSettings& s) { s.allow_cidrs = {"10.0.0.0/7"}; }));
  EXPECT_FALSE(narrowed([](EgressProfileSettings& s) { s.deny_cidrs = {"203.0.113.0/25"}; }));
  EXPECT_FALSE(narrowed([](EgressProfileSettings& s) { s.deny_cidrs.clear(); }));
  EXPECT_FALSE(narrowed([](EgressProfileSettings& s) { s.deny_hosts = {"a.corp.example.com"}; }));
  EXPECT_FALSE(narrowed([](EgressProfileSettings& s) { s.allow_hosts = {"*.org"}; }));
  EXPECT_FALSE(narrowed([](EgressProfileSettings& s) { s.credential_headers.clear(); }));

  EgressProfileSettings get_only = loose;
  get_only.methods = {"GET", "HEAD"};
  auto G = Make(get_only);
  EXPECT_FALSE(Narrows(*L, *G));  // default methods are more than GET and HEAD
  get_only.methods = {"GET"};
  EXPECT_TRUE(Narrows(*Make(get_only), *G));
  get_only.methods = {"TRACE"};
  EXPECT_FALSE(Narrows(*Make(get_only), *L));  // TRACE is not in the default set

  EgressProfileSettings strict_private = loose;
  strict_private.deny_private_networks = true;
  EXPECT_FALSE(Narrows(*L, *Make(strict_private)));
}

TEST(EgressProfileSetTest, BindingsDefaultAndRequestedProfiles) {
  EngineConfig config;
  config.allow_cidrs = {"127.0.0.0/8", "10.0.0.0/8"};
  config.deny_hosts = {"*.internal"};
  EgressProfileSettings strict;
  strict.name = "strict";
  strict.allow_cidrs = {"127.0.0.0/8"};
  strict.deny_private_networks = true;
  strict.deny_hosts = {"*.internal"};
  EgressProfileSettings wide;
  wide.name = "wide";
  wide.allow_cidrs = {"0.0.0.0/0"};
  EgressProfileSettings default_block;
  default_block.name = "default";
  default_block.methods = {"GET", "POST"};
  config.profiles = {strict, wide, default_block};
  config.caller_profiles = {{"billing", "strict"}};
  absl::StatusOr<EgressProfileSet> set = EgressProfileSet::Create(config);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->default_profile().methods(), (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(set->default_profile().destinations().allow().size(), 2u);

  EXPECT_EQ((*set->Resolve("anonymous", ""))->name(), "default");
  EXPECT_EQ((*set->Resolve("someone", ""))->name(), "default");
  EXPECT_EQ((*set->Resolve("billing", ""))->name(), "strict");
  EXPECT_EQ((*set->Resolve("billing", "strict"))->name(), "strict");
  // anonymous may narrow to strict (methods: strict has the default set,
  // which is not inside GET, POST: so it does not narrow here).
  absl::StatusOr<std::shared_ptr<const EgressProfile>> r = set->Resolve("anonymous", "strict");
  EXPECT_EQ(ReasonOf(r.status()), "PROFILE_DENIED");
  // A stricter caller may not widen.
  r = set->Resolve("billing", "default");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReasonOf(r.status()), "PROFILE_DENIED");
  r = set->Resolve("billing", "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReasonOf(r.status()), "PROFILE_DENIED");
  EXPECT_THAT(r.status().message(), HasSubstr("default, strict, wide"));
}

TEST(EgressProfileSetTest, ANarrowerProfileMayBeRequested) {
  EngineConfig config;
  config.allow_cidrs = {"10.0.0.0/8"};
  EgressProfileSettings strict;
  strict.name = "strict";
  strict.deny_private_networks = true;
  config.profiles = {strict};
  absl::StatusOr<EgressProfileSet> set = EgressProfileSet::Create(config);
  ASSERT_TRUE(set.ok()) << set.status();
  absl::StatusOr<std::shared_ptr<const EgressProfile>> r = set->Resolve("anonymous", "strict");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->name(), "strict");
}

TEST(EgressProfileSetTest, RefusesBadConfigs) {
  EngineConfig unbound;
  unbound.caller_profiles = {{"x", "missing"}};
  absl::StatusOr<EgressProfileSet> set = EgressProfileSet::Create(unbound);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("\"missing\", which is not defined"));

  EngineConfig default_addresses;
  EgressProfileSettings d;
  d.name = "default";
  d.allow_cidrs = {"10.0.0.0/8"};
  default_addresses.profiles = {d};
  set = EgressProfileSet::Create(default_addresses);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("service-wide settings"));

  EngineConfig bad_flag;
  bad_flag.deny_hosts = {"a b"};
  EXPECT_FALSE(EgressProfileSet::Create(bad_flag).ok());
}

}  // namespace
}  // namespace fetchpool
