#ifndef FETCHPOOL_CLIENT_SDK_CPP_CLIENT_CHANNEL_H_
#define FETCHPOOL_CLIENT_SDK_CPP_CLIENT_CHANNEL_H_

// The channels a Client opens, from its options: credentials (TLS, mTLS),
// the token guard, round_robin, message size.

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fetchpool/client.h"

namespace fetchpool {

// TLS is on when options.tls, ca_file or client_cert_file is set.
bool UsesTls(const ClientOptions& options);

// FAILED_PRECONDITION for a token over plaintext without
// allow_token_over_plaintext, a key without a certificate (or the reverse).
absl::Status CheckOptions(const ClientOptions& options);

// Plaintext, or TLS with the files of the options read in; an error names a
// file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientOptions& options);

// A channel to `target` with round_robin over its addresses. `tls_name` (if
// not "") is the name the server certificate must carry; options'
// server_name_override wins over it.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                                           const ClientOptions& options, absl::string_view tls_name = "");

// "fetchpool.svc" of "dns:///fetchpool.svc:50051", "[::1]:5" gives "::1".
std::string TargetHost(absl::string_view target);

}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_CLIENT_CHANNEL_H_
