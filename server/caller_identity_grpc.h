#ifndef FETCHPOOL_SERVER_CALLER_IDENTITY_GRPC_H_
#define FETCHPOOL_SERVER_CALLER_IDENTITY_GRPC_H_

#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
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
//
// Thread-safe: gRPC threads authenticate while a config reload may replace
// the tokens (SetTokens); a call sees either the old set or the new one.
class Authenticator {
 public:
  // `tokens`: null without --auth_tokens_file. `mtls`: --tls_client_ca_file.
  Authenticator(std::unique_ptr<AuthTokens> tokens, bool mtls)
      : tokens_(std::move(tokens)), mtls_(mtls) {}

  // The caller's identity, or UNAUTHENTICATED / UNAUTHENTICATED.
  absl::StatusOr<std::string> Authenticate(const grpc::ServerContextBase& context) const {
    const std::shared_ptr<const AuthTokens> tokens = Tokens();
    return IdentifyCaller(CredentialsOf(context, mtls_), AuthSettings{tokens.get(), mtls_});
  }
  bool required() const { return Tokens() != nullptr || mtls_; }
  size_t token_count() const {
    const std::shared_ptr<const AuthTokens> tokens = Tokens();
    return tokens == nullptr ? 0 : tokens->size();
  }
  // A reload's tokens (null: --auth_tokens_file no longer set). Calls
  // already authenticated keep their caller.
  void SetTokens(std::unique_ptr<AuthTokens> tokens) {
    std::shared_ptr<const AuthTokens> next(std::move(tokens));
    absl::MutexLock lock(&mu_);
    tokens_.swap(next);
  }

 private:
  std::shared_ptr<const AuthTokens> Tokens() const {
    absl::ReaderMutexLock lock(&mu_);
    return tokens_;
  }

  mutable absl::Mutex mu_;
  std::shared_ptr<const AuthTokens> tokens_ ABSL_GUARDED_BY(mu_);
  const bool mtls_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_CALLER_IDENTITY_GRPC_H_
