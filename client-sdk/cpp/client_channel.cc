#include "client-sdk/cpp/client_channel.h"

#include <fstream>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace fetchpool {
namespace {

// Spreads calls over every resolved address; gRPC's default, pick_first,
// sends them all to the first (client-sdk/README.md, "Targets").
constexpr char kRoundRobinServiceConfig[] = R"({"loadBalancingConfig": [{"round_robin": {}}]})";

absl::StatusOr<std::string> ReadFile(const std::string& option, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat(option, " ", path, " cannot be read"));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

bool UsesTls(const ClientOptions& options) {
  return options.tls || !options.ca_file.empty() || !options.client_cert_file.empty();
}

absl::Status CheckOptions(const ClientOptions& options) {
  if (!options.token.empty() && !UsesTls(options) && !options.allow_token_over_plaintext) {
    return absl::FailedPreconditionError(
        "a token over plaintext would travel in the clear: set ca_file (or tls) for TLS, or "
        "allow_token_over_plaintext for a test or a sidecar on loopback");
  }
  if (options.client_cert_file.empty() != options.client_key_file.empty()) {
    return absl::FailedPreconditionError("client_cert_file and client_key_file go together");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientOptions& options) {
  if (!UsesTls(options)) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    auto ca = ReadFile("ca_file", options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!options.client_cert_file.empty()) {
    auto cert = ReadFile("client_cert_file", options.client_cert_file);
    if (!cert.ok()) return cert.status();
    auto key = ReadFile("client_key_file", options.client_key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                                           const ClientOptions& options, absl::string_view tls_name) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_size);
  args.SetServiceConfigJSON(kRoundRobinServiceConfig);
  const std::string name = !options.server_name_override.empty() ? options.server_name_override
                                                                 : std::string(tls_name);
  if (UsesTls(options) && !name.empty()) args.SetSslTargetNameOverride(name);
  return grpc::CreateCustomChannel(target, credentials, args);
}

std::string TargetHost(absl::string_view target) {
  absl::ConsumePrefix(&target, "dns:///");
  absl::ConsumePrefix(&target, "dns:");
  if (absl::StartsWith(target, "[")) {
    const size_t end = target.find(']');
    return std::string(target.substr(1, end == absl::string_view::npos ? target.npos : end - 1));
  }
  return std::string(target.substr(0, target.rfind(':')));
}

}  // namespace fetchpool
