#ifndef FETCHPOOL_SERVER_CALLER_IDENTITY_H_
#define FETCHPOOL_SERVER_CALLER_IDENTITY_H_

// Who is calling: the rules, free of gRPC so they are unit-testable
// (tests/server/caller_identity_test.cc). server/caller_identity_grpc.cc
// reads the inputs off a gRPC call.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "server/auth_tokens.h"

namespace fetchpool {

inline constexpr char kAnonymousCaller[] = "anonymous";

// What one call presents.
struct CallerCredentials {
  // The `authorization` metadata, if sent.
  absl::optional<std::string> authorization;
  // The client certificate's subject alternative names, when the TLS layer
  // verified it against --tls_client_ca_file (empty otherwise).
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
  bool client_cert_verified = false;
};

// How the server authenticates.
struct AuthSettings {
  const AuthTokens* tokens = nullptr;  // null: no --auth_tokens_file
  bool mtls = false;                   // --tls_client_ca_file is set
  // Credentials are needed when either is on.
  bool required() const { return tokens != nullptr || mtls; }
};

// The caller's identity: the token's name, else the client certificate's
// SAN (a spiffe:// URI preferred, else the first DNS name), else
// "anonymous". UNAUTHENTICATED (reason UNAUTHENTICATED) when credentials
// are required and none is valid, and whenever a token is sent but is not
// valid (a wrong token is never ignored in favour of a certificate).
absl::StatusOr<std::string> IdentifyCaller(const CallerCredentials& credentials,
                                           const AuthSettings& settings);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_CALLER_IDENTITY_H_
