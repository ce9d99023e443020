// Bearer tokens and the caller-identity rules (gRPC-free).
#include <string>

#include "common/reason.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth_tokens.h"
#include "server/caller_identity.h"

namespace fetchpool {
namespace {

using ::testing::HasSubstr;

constexpr char kTokens[] = R"(# callers of fetchpool
webhooks  0123456789abcdef-webhooks

crawler	0123456789abcdef-crawler
)";

std::string ParseError(const std::string& text) {
  absl::StatusOr<AuthTokens> tokens = AuthTokens::Parse(text, "tokens.txt");
  EXPECT_FALSE(tokens.ok());
  return tokens.ok() ? "" : std::string(tokens.status().message());
}

TEST(AuthTokensTest, ParsesNamesTokensCommentsAndBlankLines) {
  absl::StatusOr<AuthTokens> tokens = AuthTokens::Parse(kTokens, "tokens.txt");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 2u);
  EXPECT_EQ(tokens->Lookup("0123456789abcdef-webhooks"), "webhooks");
  EXPECT_EQ(tokens->Lookup("0123456789abcdef-crawler"), "crawler");
}

TEST(AuthTokensTest, WrongPrefixLongerShorterAndEmptyTokensMatchNothing) {
  absl::StatusOr<AuthTokens> tokens = AuthTokens::Parse(kTokens, "tokens.txt");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->Lookup(""), absl::nullopt);
  EXPECT_EQ(tokens->Lookup("0123456789abcdef-webhook"), absl::nullopt);
  EXPECT_EQ(tokens->Lookup("0123456789abcdef-webhooksX"), absl::nullopt);
  EXPECT_EQ(tokens->Lookup("0123456789abcdef-WEBHOOKS"), absl::nullopt);
}

TEST(AuthTokensTest, RefusesBadFilesNamingFileAndLine) {
  EXPECT_THAT(ParseError("a 0123456789abcdef\nb short\n"),
              AllOf(HasSubstr("tokens.txt:2"), HasSubstr("at least 16 bytes")));
  EXPECT_THAT(ParseError("a 0123456789abcdef\na 0123456789abcdeg\n"),
              AllOf(HasSubstr("tokens.txt:2"), HasSubstr("already has a token at line 1")));
  EXPECT_THAT(ParseError("a 0123456789abcdef\nb 0123456789abcdef\n"),
              AllOf(HasSubstr("tokens.txt:2"), HasSubstr("same as the one at line 1")));
  EXPECT_THAT(ParseError("# ok\nonlyname\n"), AllOf(HasSubstr("tokens.txt:2"),
                                                    HasSubstr("caller-name token")));
  EXPECT_THAT(ParseError("a b 0123456789abcdef\n"), HasSubstr("tokens.txt:1"));
  EXPECT_THAT(ParseError("anonymous 0123456789abcdef\n"), HasSubstr("anonymous"));
  EXPECT_THAT(ParseError("a\"b 0123456789abcdef\n"), HasSubstr("tokens.txt:1"));
}

TEST(AuthTokensTest, LoadNamesTheSetting) {
  absl::StatusOr<AuthTokens> tokens = AuthTokens::Load("/nonexistent/tokens");
  ASSERT_FALSE(tokens.ok());
  EXPECT_THAT(tokens.status().message(), HasSubstr("--auth_tokens_file"));
}

class IdentifyCallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<AuthTokens> parsed = AuthTokens::Parse(kTokens, "tokens.txt");
    ASSERT_TRUE(parsed.ok());
    tokens_ = *std::move(parsed);
  }
  static void ExpectUnauthenticated(const absl::StatusOr<std::string>& caller) {
    ASSERT_FALSE(caller.ok()) << *caller;
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(ReasonOf(caller.status()), "UNAUTHENTICATED");
  }
  static CallerCredentials Cert(std::vector<std::string> uris, std::vector<std::string> dns) {
    CallerCredentials c;
    c.client_cert_verified = true;
    c.uri_sans = std::move(uris);
    c.dns_sans = std::move(dns);
    return c;
  }
  AuthTokens tokens_;
};

TEST_F(IdentifyCallerTest, NothingRequiredIsAnonymous) {
  EXPECT_EQ(*IdentifyCaller(CallerCredentials(), AuthSettings()), "anonymous");
  // Without tokens configured an authorization header means nothing.
  CallerCredentials c;
  c.authorization = "Bearer whatever";
  EXPECT_EQ(*IdentifyCaller(c, AuthSettings()), "anonymous");
}

TEST_F(IdentifyCallerTest, TokensMissingWrongAndRight) {
  const AuthSettings settings{&tokens_, false};
  ExpectUnauthenticated(IdentifyCaller(CallerCredentials(), settings));
  CallerCredentials c;
  c.authorization = "Bearer 0123456789abcdef-nope";
  ExpectUnauthenticated(IdentifyCaller(c, settings));
  c.authorization = "Basic 0123456789abcdef-crawler";
  ExpectUnauthenticated(IdentifyCaller(c, settings));
  c.authorization = "Bearer 0123456789abcdef-crawler";
  EXPECT_EQ(*IdentifyCaller(c, settings), "crawler");
  c.authorization = "bearer  0123456789abcdef-webhooks ";
  EXPECT_EQ(*IdentifyCaller(c, settings), "webhooks");
}

TEST_F(IdentifyCallerTest, CertificateSpiffeUriPreferredThenDnsName) {
  const AuthSettings settings{nullptr, true};
  EXPECT_EQ(*IdentifyCaller(Cert({"https://x.example/", "spiffe://example.org/ns/a/sa/web"},
                                 {"web.internal"}),
                            settings),
            "spiffe://example.org/ns/a/sa/web");
  EXPECT_EQ(*IdentifyCaller(Cert({"https://x.example/"}, {"web.internal", "b"}), settings),
            "web.internal");
  ExpectUnauthenticated(IdentifyCaller(Cert({}, {}), settings));
  ExpectUnauthenticated(IdentifyCaller(CallerCredentials(), settings));
}

TEST_F(IdentifyCallerTest, TokenBeatsCertificateAndAWrongTokenIsNeverIgnored) {
  const AuthSettings settings{&tokens_, true};
  CallerCredentials c = Cert({"spiffe://example.org/web"}, {});
  EXPECT_EQ(*IdentifyCaller(c, settings), "spiffe://example.org/web");
  c.authorization = "Bearer 0123456789abcdef-crawler";
  EXPECT_EQ(*IdentifyCaller(c, settings), "crawler");
  c.authorization = "Bearer 0123456789abcdef-wrong";
  ExpectUnauthenticated(IdentifyCaller(c, settings));
}

TEST_F(IdentifyCallerTest, UnverifiedCertificateIsNoIdentity) {
  CallerCredentials c = Cert({"spiffe://example.org/web"}, {});
  c.client_cert_verified = false;
  ExpectUnauthenticated(IdentifyCaller(c, AuthSettings{nullptr, true}));
  EXPECT_EQ(*IdentifyCaller(c, AuthSettings()), "anonymous");
}

}  // namespace
}  // namespace fetchpool
