// The status page on the metrics listener (server/status_page): GET / is the
// embedded page, GET /stats.json the Stats RPC's answer in protobuf's
// canonical JSON, under the RPC's visibility rule for the anonymous caller;
// /metrics on the same port is unchanged. A real fetchpool server, a real
// origin and HTTP on loopback. (What the page does with the JSON is
// checked in a browser: tests/integration/status_page_browser_test.sh.)
#include <google/protobuf/util/json_util.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "server/metrics_exporter.h"
#include "server/status_page.h"
#include "tests/integration/http_get.h"
#include "tests/integration/service_fixture.h"

namespace fetchpool::testing {
namespace {

class StatusPageTest : public ServiceTest {
 protected:
  // GET /stats.json, checked to be JSON, parsed back into the proto.
  v1::StatsResponse StatsJson(std::string* raw = nullptr) {
    long status = 0;
    std::string type;
    std::string body = HttpGet(server_->metrics_port(), "/stats.json", &status, &type);
    EXPECT_EQ(status, 200) << body;
    EXPECT_EQ(type, "application/json");
    v1::StatsResponse out;
    const auto parsed = google::protobuf::util::JsonStringToMessage(body, &out);
    EXPECT_TRUE(parsed.ok()) << parsed.ToString() << "\n" << body;
    if (raw != nullptr) *raw = body;
    return out;
  }

  // The Stats RPC without a host, as the anonymous caller.
  v1::StatsResponse StatsRpc() {
    v1::StatsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status status = stub_->Stats(&context, v1::StatsRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
};

TEST_F(StatusPageTest, StatsJsonIsTheStatsRpcInCanonicalJson) {
  StartServer(MetricsConfig());
  constexpr int kFetches = 3;
  for (int i = 0; i < kFetches; ++i) ASSERT_TRUE(Get("/echo").status.ok());
  ASSERT_TRUE(WaitForQuietPool());

  std::string raw;
  const v1::StatsResponse json = StatsJson(&raw);
  const v1::StatsResponse rpc = StatsRpc();
  // Nothing ran in between: the same snapshot, field for field.
  EXPECT_EQ(json.SerializeAsString(), rpc.SerializeAsString())
      << "json:\n" << json.DebugString() << "rpc:\n" << rpc.DebugString();
  ASSERT_EQ(json.pools_size(), 1);
  EXPECT_EQ(json.pools(0).host(), PoolKey());
  EXPECT_EQ(json.pools(0).requests_total(), static_cast<uint64_t>(kFetches));
  EXPECT_EQ(json.pools(0).idle_connections(), 1u);
  EXPECT_EQ(json.pool_count(), 1u);
  // The canonical mapping: lowerCamelCase names, uint64 as strings, and the
  // zero-valued fields the page reads are there too.
  EXPECT_TRUE(absl::StrContains(raw, absl::StrCat("\"requestsTotal\":\"", kFetches, "\"")))
      << raw;
  EXPECT_TRUE(absl::StrContains(raw, "\"waitQueueLength\":0")) << raw;
  EXPECT_FALSE(absl::StrContains(raw, "requests_total")) << raw;
}

TEST_F(StatusPageTest, PageIsSelfContainedAndMetricsKeepsServing) {
  StartServer(MetricsConfig());
  ASSERT_TRUE(Get("/echo").status.ok());
  const int port = server_->metrics_port();
  long status = 0;
  std::string type;
  const std::string page = HttpGet(port, "/", &status, &type);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(type, "text/html; charset=utf-8");
  EXPECT_EQ(page, std::string(kStatusPageHtml));
  EXPECT_TRUE(absl::StartsWith(page, "<!DOCTYPE html>"));
  EXPECT_TRUE(absl::StrContains(page, "fetch(\"stats.json\""));
  // No external assets: no linked script or style, and the only URL is the
  // SVG namespace name (an identifier, never fetched).
  EXPECT_FALSE(absl::StrContains(page, "<script src"));
  EXPECT_FALSE(absl::StrContains(page, "<link"));
  std::string rest = page;
  absl::StrReplaceAll({{"http://www.w3.org/2000/svg", ""}}, &rest);
  EXPECT_FALSE(absl::StrContains(rest, "http://")) << "an external reference";
  EXPECT_FALSE(absl::StrContains(rest, "https://")) << "an external reference";

  // /metrics as before, on the same port.
  const std::string metrics = HttpGet(port, "/metrics", &status, &type);
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(absl::StartsWith(type, "text/plain")) << type;
  EXPECT_TRUE(absl::StrContains(metrics, "\nfetchpool_pools 1")) << metrics;
  EXPECT_TRUE(absl::StrContains(metrics, absl::StrCat("fetchpool_requests_total{host=\"",
                                                      PoolKey(), "\"} 1")));
  // Anything else is not found.
  HttpGet(port, "/nothing-here", &status);
  EXPECT_EQ(status, 404);
}

// --stats_callers without "anonymous": the metrics listener, which has no
// caller identity, gets what the Stats RPC gives the anonymous caller.
TEST_F(StatusPageTest, PerPoolRowsOnlyWhenTheAnonymousCallerMaySeeThem) {
  ServerConfig config = MetricsConfig();
  config.stats_callers = {"ops"};
  StartServer(config);
  ASSERT_TRUE(Get("/echo").status.ok());
  const v1::StatsResponse hidden = StatsJson();
  EXPECT_EQ(hidden.pools_size(), 0);
  EXPECT_EQ(hidden.pool_count(), 1u);
  EXPECT_EQ(hidden.totals().requests_total(), 1u);
  EXPECT_EQ(hidden.SerializeAsString(), StatsRpc().SerializeAsString());
  server_->Shutdown(absl::Seconds(1));
  server_.reset();

  config.stats_callers = {"ops", "anonymous"};
  StartServer(config);
  ASSERT_TRUE(Get("/echo").status.ok());
  const v1::StatsResponse shown = StatsJson();
  ASSERT_EQ(shown.pools_size(), 1);
  EXPECT_EQ(shown.pools(0).host(), PoolKey());
}

// The engine's loop does not answer in time: 503, no stale numbers, counted
// with the scrapes that timed out; the next request is whole again.
TEST_F(StatusPageTest, StatsJsonIs503WhenTheEngineDoesNotAnswer) {
  StartServer(LoopbackConfig());
  ASSERT_TRUE(Get("/echo").status.ok());
  std::unique_ptr<MetricsExporter> exporter = StartExporter(absl::Milliseconds(100));
  ASSERT_NE(exporter, nullptr);
  const int port = exporter->port();
  std::thread blocker = StallLoop();
  long status = 0;
  std::string body = HttpGet(port, "/stats.json", &status);
  blocker.join();
  EXPECT_EQ(status, 503) << body;
  EXPECT_FALSE(absl::StrContains(body, "pools")) << body;
  EXPECT_TRUE(absl::StrContains(HttpGet(port, "/metrics"),
                                "\nfetchpool_metrics_scrape_timeouts_total 1"));
  body = HttpGet(port, "/stats.json", &status);
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(absl::StrContains(body, absl::StrCat("\"host\":\"", PoolKey(), "\""))) << body;
}

}  // namespace
}  // namespace fetchpool::testing
