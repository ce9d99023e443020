#ifndef FETCHPOOL_SERVER_AUTH_SERVER_CREDENTIALS_H_
#define FETCHPOOL_SERVER_AUTH_SERVER_CREDENTIALS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "absl/status/statusor.h"
#include "server/server_config.h"

namespace fetchpool {

// The gRPC port's credentials: plaintext without tls_cert_file; TLS with
// it; and with tls_client_ca_file, client certificates requested and
// verified against it. Presenting one is checked per call (Authenticator),
// not in the handshake, so that grpc.health.v1.Health stays open and
// FetchPool calls without a certificate get UNAUTHENTICATED with a reason
// instead of a bare handshake failure. A certificate from another CA still
// fails the handshake.
//
// The PEM files are read and checked with OpenSSL first (the certificate
// and key parse and match, the CA file holds a certificate), so a bad file
// stops start-up with a message naming its setting rather than gRPC's
// "cannot listen".
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerConfig& config);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_AUTH_SERVER_CREDENTIALS_H_
