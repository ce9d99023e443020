#include "client-sdk/cpp/ctl_commands.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client-sdk/cpp/ctl_output.h"
#include "client-sdk/cpp/ctl_top.h"
#include "fetchpool/client.h"
#include "client-sdk/cpp/stats_table.h"

namespace fetchpool {
namespace client {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot open --data-file ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("cannot read --data-file ", path));
  return contents.str();
}

int RunFetch(Client& client, const CtlArgs& args, std::ostream& out, std::ostream& err) {
  auto request = BuildFetchRequest(args);
  if (!request.ok()) {
    err << "error: " << request.status().message() << "\n";
    return kExitUsage;
  }
  auto response = client.Fetch(*request, args.timeout);
  if (!response.ok()) {
    err << FormatRpcError(response.status()) << "\n";
    return kExitRpcError;
  }
  if (args.include) out << FormatResponseHead(*response);
  out.write(response->body().data(), static_cast<std::streamsize>(response->body().size()));
  out.flush();
  if (args.verbose) err << FormatTimingSummary(*response) << "\n";
  return kExitOk;
}

int RunStats(Client& client, const CtlArgs& args, std::ostream& out, std::ostream& err) {
  auto stats = client.Stats(args.host, args.timeout);
  if (!stats.ok()) {
    err << FormatRpcError(stats.status()) << "\n";
    return kExitRpcError;
  }
  if (!args.json) {
    out << FormatStatsTable(*stats);
    return kExitOk;
  }
  auto json = FormatStatsJson(*stats);
  if (!json.ok()) {
    err << "error: " << json.status().message() << "\n";
    return kExitRpcError;
  }
  out << *json << "\n";
  return kExitOk;
}

}  // namespace

absl::StatusOr<fetchpool::v1::FetchRequest> BuildFetchRequest(const CtlArgs& args) {
  fetchpool::v1::FetchRequest request;
  request.set_url(args.url);
  for (const auto& [name, value] : args.headers) {
    auto* header = request.add_headers();
    header->set_name(name);
    header->set_value(value);
  }
  if (args.data.has_value()) request.set_body(*args.data);
  if (args.data_file.has_value()) {
    auto body = ReadFile(*args.data_file);
    if (!body.ok()) return body.status();
    request.set_body(*std::move(body));
  }
  // curl's rule: a body without -X means POST.
  bool has_body = args.data.has_value() || args.data_file.has_value();
  request.set_method(!args.method.empty() ? args.method : has_body ? "POST" : "GET");
  request.set_max_response_bytes(args.max_response_bytes);
  request.set_follow_redirects(args.follow);
  return request;
}

int RunCtl(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err,
           const CtlEnvironment& env) {
  auto args = ParseCtlArgs(argv);
  if (!args.ok()) {
    err << "error: " << args.status().message() << "\nrun 'fetchpoolctl --help' for usage\n";
    return kExitUsage;
  }
  if (args->help) {
    out << args->help_text;
    return kExitOk;
  }
  ClientOptions options;
  options.default_timeout = args->timeout;
  Client client(args->target, options);
  if (args->command == "fetch") return RunFetch(client, *args, out, err);
  if (args->command == "top") return RunTop(client, *args, out, err, env);
  return RunStats(client, *args, out, err);
}

}  // namespace client
}  // namespace fetchpool
