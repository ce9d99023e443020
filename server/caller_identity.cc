#include "server/caller_identity.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/reason.h"

namespace fetchpool {
namespace {

constexpr char kBearer[] = "bearer ";

absl::optional<std::string> CertificateIdentity(const CallerCredentials& credentials) {
  if (!credentials.client_cert_verified) return absl::nullopt;
  for (const std::string& uri : credentials.uri_sans) {
    if (absl::StartsWithIgnoreCase(uri, "spiffe://")) return uri;
  }
  if (!credentials.dns_sans.empty()) return credentials.dns_sans.front();
  return absl::nullopt;
}

}  // namespace

absl::StatusOr<std::string> IdentifyCaller(const CallerCredentials& credentials,
                                           const AuthSettings& settings) {
  if (credentials.authorization.has_value() && settings.tokens != nullptr) {
    absl::string_view value = absl::StripAsciiWhitespace(*credentials.authorization);
    if (!absl::StartsWithIgnoreCase(value, kBearer)) {
      return MakeError(Reason::kUnauthenticated,
                       "the authorization metadata is not `Bearer <token>`");
    }
    value = absl::StripAsciiWhitespace(value.substr(sizeof(kBearer) - 1));
    absl::optional<std::string> caller = settings.tokens->Lookup(value);
    if (!caller.has_value()) {
      return MakeError(Reason::kUnauthenticated,
                       "the bearer token is not in the server's --auth_tokens_file");
    }
    return *caller;
  }
  if (absl::optional<std::string> caller = CertificateIdentity(credentials)) return *caller;
  if (!settings.required()) return std::string(kAnonymousCaller);
  if (settings.mtls && credentials.client_cert_verified) {
    return MakeError(Reason::kUnauthenticated,
                     "the client certificate has no spiffe:// URI or DNS subject alternative "
                     "name to identify the caller");
  }
  return MakeError(Reason::kUnauthenticated,
                   settings.tokens != nullptr && settings.mtls
                       ? "send `authorization: Bearer <token>` metadata or a client certificate"
                   : settings.tokens != nullptr
                       ? "send `authorization: Bearer <token>` metadata"
                       : "send a client certificate signed by the server's --tls_client_ca_file");
}

}  // namespace fetchpool
