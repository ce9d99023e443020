// FetchStream and WatchStats over a real gRPC connection.
#include <map>
#include <set>

#include "tests/integration/service_fixture.h"

namespace fetchpool::testing {
namespace {

TEST_F(ServiceTest, FetchStreamAnswersEveryRequestById) {
  StartServer(LoopbackConfig());
  grpc::ClientContext context;
  auto stream = stub_->FetchStream(&context);
  constexpr int kRequests = 300;
  for (int i = 0; i < kRequests; ++i) {
    v1::FetchRequest request;
    request.set_id(absl::StrCat("r", i));
    // Every 10th takes longer, so answers come back out of order.
    request.set_url(Url(i % 10 == 0 ? "/sleep?ms=30" : absl::StrCat("/echo?i=", i)));
    if (i == 7) request.set_url("ftp://nope/");  // a bad one fails alone
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::map<std::string, v1::FetchResponse> answers;
  std::vector<std::string> order;
  v1::FetchResponse response;
  while (stream->Read(&response)) {
    order.push_back(response.id());
    answers[response.id()] = response;
  }
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(answers.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) {
    const v1::FetchResponse& a = answers[absl::StrCat("r", i)];
    if (i == 7) {
      EXPECT_EQ(a.error().reason(), "UNSUPPORTED_SCHEME");
      EXPECT_EQ(a.error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    } else {
      EXPECT_FALSE(a.has_error()) << i << ": " << a.error().message();
      EXPECT_EQ(a.status(), 200) << i;
    }
  }
  std::vector<std::string> sorted_by_request;
  for (int i = 0; i < kRequests; ++i) sorted_by_request.push_back(absl::StrCat("r", i));
  EXPECT_NE(order, sorted_by_request) << "slow requests should finish after fast ones";
  EXPECT_TRUE(WaitForQuietPool());
}

TEST_F(ServiceTest, FetchStreamCancelStopsRunningFetches) {
  ServerConfig config = LoopbackConfig();
  config.engine.defaults.fetch.on_deadline = OnDeadline::kAbort;
  StartServer(config);
  grpc::ClientContext context;
  auto stream = stub_->FetchStream(&context);
  for (int i = 0; i < 5; ++i) {
    v1::FetchRequest request;
    request.set_id(absl::StrCat(i));
    request.set_url(Url("/sleep?ms=5000"));
    ASSERT_TRUE(stream->Write(request));
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (PoolStats().busy_connections() < 5 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  context.TryCancel();
  v1::FetchResponse response;
  while (stream->Read(&response)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForQuietPool(absl::Seconds(2)));
  EXPECT_EQ(PoolStats().closed_aborted_total(), 5u);
}

TEST_F(ServiceTest, WatchStatsStreamsSnapshots) {
  StartServer(LoopbackConfig());
  ASSERT_TRUE(Get("/echo").status.ok());
  grpc::ClientContext context;
  v1::WatchStatsRequest request;
  request.mutable_interval()->set_nanos(100 * 1000 * 1000);
  auto reader = stub_->WatchStats(&context, request);
  v1::StatsResponse snapshot;
  const absl::Time start = absl::Now();
  int received = 0;
  while (received < 3 && reader->Read(&snapshot)) {
    ++received;
    ASSERT_EQ(snapshot.pools_size(), 1);
    EXPECT_EQ(snapshot.pools(0).requests_total(), 1u);
  }
  EXPECT_EQ(received, 3);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(180));  // two intervals
  context.TryCancel();
  while (reader->Read(&snapshot)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ServiceTest, WatchStatsRejectsABadInterval) {
  StartServer(LoopbackConfig());
  grpc::ClientContext context;
  v1::WatchStatsRequest request;
  request.mutable_interval()->set_nanos(1000);  // 1us: a unit mistake
  auto reader = stub_->WatchStats(&context, request);
  v1::StatsResponse snapshot;
  EXPECT_FALSE(reader->Read(&snapshot));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, ServerShutdownEndsAWatch) {
  StartServer(LoopbackConfig());
  grpc::ClientContext context;
  v1::WatchStatsRequest request;
  auto reader = stub_->WatchStats(&context, request);
  v1::StatsResponse snapshot;
  ASSERT_TRUE(reader->Read(&snapshot));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Milliseconds(200));
  while (reader->Read(&snapshot)) {
  }
  reader->Finish();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  server_.reset();
}

}  // namespace
}  // namespace fetchpool::testing
