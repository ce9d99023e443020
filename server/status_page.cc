#include "server/status_page.h"

#include <civetweb.h>
#include <google/protobuf/util/json_util.h>

#include <cstring>

#include "fetchpool/v1/fetchpool.pb.h"
#include "server/stats_proto.h"

namespace fetchpool {
namespace {

// One complete response; Connection: close keeps civetweb's bookkeeping
// simple for a page that asks once a second.
int Reply(mg_connection* conn, int code, const char* status, const char* type,
          const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: %s\r\n"
            "Content-Length: %zu\r\n"
            "Cache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Connection: close\r\n\r\n",
            code, status, type, body.size());
  if (std::strcmp(mg_get_request_info(conn)->request_method, "HEAD") != 0) {
    mg_write(conn, body.data(), body.size());
  }
  return code;
}

bool IsGet(mg_connection* conn) {
  const char* method = mg_get_request_info(conn)->request_method;
  return std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0;
}

// "/" (and, as civetweb routes unmatched paths to the shortest prefix
// handler, everything /metrics and /stats.json do not take: 404 then).
int ServePage(mg_connection* conn, void* /*cbdata*/) {
  const char* uri = mg_get_request_info(conn)->local_uri;
  if (uri == nullptr || (std::strcmp(uri, "/") != 0 && std::strcmp(uri, "/index.html") != 0)) {
    return Reply(conn, 404, "Not Found", "text/plain", "not found: try / or /metrics\n");
  }
  if (!IsGet(conn)) return Reply(conn, 405, "Method Not Allowed", "text/plain", "GET only\n");
  return Reply(conn, 200, "OK", "text/html; charset=utf-8", kStatusPageHtml);
}

int ServeStatsJson(mg_connection* conn, void* cbdata) {
  const auto* options = static_cast<const StatusPageOptions*>(cbdata);
  if (!IsGet(conn)) return Reply(conn, 405, "Method Not Allowed", "text/plain", "GET only\n");
  std::optional<Engine::StatsResult> stats = options->snapshot();
  if (!stats.has_value()) {
    return Reply(conn, 503, "Service Unavailable", "text/plain",
                 "the engine did not answer in time\n");
  }
  return Reply(conn, 200, "OK", "application/json", StatsJson(*stats, options->pool_details));
}

}  // namespace

std::string StatsJson(const Engine::StatsResult& stats, bool pool_details) {
  v1::StatsResponse response;
  FillStatsResponse(stats, pool_details, &response);
  google::protobuf::util::JsonPrintOptions print;
  // Zero counters included: the page reads every column from every row.
  print.always_print_primitive_fields = true;
  std::string json;
  // Fails only on a message JSON cannot express (Any without its type):
  // not one of ours.
  const auto status =
      google::protobuf::util::MessageToJsonString(response, &json, print);
  if (!status.ok()) return "{}";
  return json;
}

void RegisterStatusPage(mg_context* ctx, const StatusPageOptions* options) {
  mg_set_request_handler(ctx, "/stats.json", ServeStatsJson, const_cast<StatusPageOptions*>(options));
  mg_set_request_handler(ctx, "/", ServePage, nullptr);
}

}  // namespace fetchpool
