#include "server/caller_identity_grpc.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include <algorithm>

namespace fetchpool {
namespace {

std::vector<std::string> PropertyValues(const grpc::AuthContext& auth, const char* name) {
  std::vector<std::string> out;
  for (const grpc::string_ref& value : auth.FindPropertyValues(name)) {
    out.emplace_back(value.data(), value.size());
  }
  return out;
}

}  // namespace

CallerCredentials CredentialsOf(const grpc::ServerContextBase& context, bool mtls) {
  CallerCredentials credentials;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) credentials.authorization.emplace(it->second.data(), it->second.size());
  if (!mtls) return credentials;
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME).empty()) {
    return credentials;  // no client certificate
  }
  // The port requests client certificates and verifies those presented
  // (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY): one that is here passed.
  credentials.client_cert_verified = true;
  credentials.uri_sans = PropertyValues(*auth, GRPC_PEER_URI_PROPERTY_NAME);
  for (std::string& spiffe : PropertyValues(*auth, GRPC_PEER_SPIFFE_ID_PROPERTY_NAME)) {
    if (std::find(credentials.uri_sans.begin(), credentials.uri_sans.end(), spiffe) ==
        credentials.uri_sans.end()) {
      credentials.uri_sans.push_back(std::move(spiffe));
    }
  }
  credentials.dns_sans = PropertyValues(*auth, GRPC_PEER_DNS_PROPERTY_NAME);
  return credentials;
}

}  // namespace fetchpool
