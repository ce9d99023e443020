#ifndef FETCHPOOL_SERVER_CALLER_IDENTITY_GRPC_H_
#define FETCHPOOL_SERVER_CALLER_IDENTITY_GRPC_H_

#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/auth_tokens.h"
#include "server/caller_identity.h"

namespace fetchpool {

// The inputs of IdentifyCaller as gRPC parsed them: the `authorization`
// metadata and the verified client certificate's SANs from the call's
// AuthContext ("peer_uri", "peer_spiffe_id", "peer_dns"). `mtls`: whether
// the port verifies client certificates; without it a certificate is not
// an identity.
CallerCredentials CredentialsOf(const grpc::ServerContextBase& context, bool mtls);

// Authenticates the calls of fetchpool.v1.FetchPool.
//
// Why a check at the start of each handler and not a
// grpc::AuthMetadataProcessor: gRPC 1.51 runs a processor only on secure
// credentials (InsecureServerCredentials::SetAuthMetadataProcessor is
// GPR_ASSERT(0), src/cpp/server/insecure_server_credentials.cc), and tokens
// must work over plaintext too. A processor would also apply to
// grpc.health.v1.Health, which must stay open. So FetchService asks this
// class first in Fetch, FetchStream, Stats and WatchStats, from gRPC's own
// parsed metadata and AuthContext; the other services never see it.
// Immutable after construction; any thread.
class Authenticator {
 public:
  // `tokens`: null without --auth_tokens_file. `mtls`: --tls_client_ca_file.
  Authenticator(std::unique_ptr<AuthTokens> tokens, bool mtls)
      : tokens_(std::move(tokens)), mtls_(mtls) {}

  // The caller's identity, or UNAUTHENTICATED / UNAUTHENTICATED.
  absl::StatusOr<std::string> Authenticate(const grpc::ServerContextBase& context) const {
    return IdentifyCaller(CredentialsOf(context, mtls_), AuthSettings{tokens_.get(), mtls_});
  }
  bool required() const { return tokens_ != nullptr || mtls_; }
  size_t token_count() const { return tokens_ == nullptr ? 0 : tokens_->size(); }

 private:
  const std::unique_ptr<AuthTokens> tokens_;
  const bool mtls_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_CALLER_IDENTITY_GRPC_H_
