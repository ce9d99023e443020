// The Client's retries, deadline, metadata and credentials options against
// the fake server.
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "fetchpool/client.h"
#include "tests/client-sdk/fake_fetchpool.h"

namespace fetchpool {
namespace {

using fetchpool::testing::FakeFetchPoolServer;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;

FetchRequest Request(const std::string& method, const std::string& url = testing::kEchoUrl) {
  FetchRequest request;
  request.set_method(method);
  request.set_url(url);
  return request;
}

class ClientRetryTest : public ::testing::Test {
 protected:
  FakeFetchPoolServer server_;
  Client client_{server_.target()};
};

TEST_F(ClientRetryTest, PostIsNeverRetriedOnUnavailableWithoutReason) {
  server_.service().FailNextFetches(1, grpc::StatusCode::UNAVAILABLE, "");
  auto response = client_.Fetch(Request("POST"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(response.status()), "");
  EXPECT_EQ(server_.service().fetch_calls(), 1);
}

TEST_F(ClientRetryTest, GetIsRetriedOnUnavailableWithoutReason) {
  server_.service().FailNextFetches(2, grpc::StatusCode::UNAVAILABLE, "");
  auto response = client_.Fetch(Request("GET"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status(), 200);
  EXPECT_EQ(server_.service().fetch_calls(), 3);
}

TEST_F(ClientRetryTest, IdempotentPostIsRetried) {
  server_.service().FailNextFetches(1, grpc::StatusCode::UNAVAILABLE, "");
  FetchRequest request = Request("POST");
  request.set_idempotent(true);
  EXPECT_TRUE(client_.Fetch(request).ok());
  EXPECT_EQ(server_.service().fetch_calls(), 2);
}

TEST_F(ClientRetryTest, QueueFullIsRetriedForAPost) {
  server_.service().FailNextFetches(1, grpc::StatusCode::RESOURCE_EXHAUSTED, "QUEUE_FULL");
  auto response = client_.Fetch(Request("POST"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(server_.service().fetch_calls(), 2);
}

TEST_F(ClientRetryTest, ShuttingDownIsRetriedForAPost) {
  server_.service().FailNextFetches(2, grpc::StatusCode::UNAVAILABLE, "SHUTTING_DOWN");
  EXPECT_TRUE(client_.Fetch(Request("POST")).ok());
  EXPECT_EQ(server_.service().fetch_calls(), 3);
}

TEST_F(ClientRetryTest, OtherReasonsAreNotRetried) {
  auto response = client_.Fetch(Request("GET", testing::kRefusedUrl));
  EXPECT_EQ(ErrorReason(response.status()), "CONNECT_REFUSED");
  EXPECT_EQ(server_.service().fetch_calls(), 1);
}

TEST_F(ClientRetryTest, AtMostFiveAttempts) {
  server_.service().FailNextFetches(100, grpc::StatusCode::RESOURCE_EXHAUSTED, "QUEUE_FULL");
  auto response = client_.Fetch(Request("GET"));
  EXPECT_EQ(ErrorReason(response.status()), "QUEUE_FULL");
  EXPECT_EQ(server_.service().fetch_calls(), 5);
}

TEST_F(ClientRetryTest, RetriesStayInsideTheDeadline) {
  server_.service().FailNextFetches(100, grpc::StatusCode::UNAVAILABLE, "");
  const absl::Time start = absl::Now();
  auto response = client_.Fetch(Request("GET"), absl::Milliseconds(400));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(450));
  EXPECT_GE(server_.service().fetch_calls(), 2);  // 125-250 ms fits, 250-500 ms more may not
  EXPECT_LE(server_.service().fetch_calls(), 3);
}

TEST_F(ClientRetryTest, FetchAsyncRetriesToo) {
  server_.service().FailNextFetches(1, grpc::StatusCode::UNAVAILABLE, "");
  absl::Notification done;
  absl::StatusOr<FetchResponse> result = absl::UnknownError("not run");
  client_.FetchAsync(Request("GET"), [&](absl::StatusOr<FetchResponse> r) {
    result = std::move(r);
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(server_.service().fetch_calls(), 2);
}

TEST_F(ClientRetryTest, CancelStopsARetryWaitingToStart) {
  server_.service().FailNextFetches(100, grpc::StatusCode::UNAVAILABLE, "");
  absl::Notification done;
  absl::StatusOr<FetchResponse> result = absl::UnknownError("not run");
  PendingFetch pending = client_.FetchAsync(Request("GET"), [&](absl::StatusOr<FetchResponse> r) {
    result = std::move(r);
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(60));  // the first attempt failed; sleeping 125-250 ms
  pending.Cancel();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(1)));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(server_.service().fetch_calls(), 1);
}

TEST_F(ClientRetryTest, EveryFetchCarriesItsPoolKey) {
  client_.Fetch(Request("GET", "HTTP://Origin.TEST/echo")).IgnoreError();  // DNS_FAILURE from the fake
  EXPECT_EQ(server_.service().last_pool_key(), "http://origin.test:80");
}

TEST_F(ClientRetryTest, TokenOverPlaintextIsRefusedUnlessAllowed) {
  ClientOptions options;
  options.token = "secret";
  Client refusing(server_.target(), options);
  EXPECT_EQ(refusing.Get(testing::kOkUrl).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server_.service().fetch_calls(), 0);

  EXPECT_EQ(refusing.OpenStream()->Submit(Request("GET", testing::kOkUrl)).get().status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto watch = refusing.WatchStats();
  fetchpool::v1::StatsResponse snapshot;
  EXPECT_FALSE(watch->Next(&snapshot));
  EXPECT_EQ(watch->status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refusing.Stats().status().code(), absl::StatusCode::kFailedPrecondition);

  options.allow_token_over_plaintext = true;
  Client allowed(server_.target(), options);
  ASSERT_TRUE(allowed.Get(testing::kOkUrl).ok());
  EXPECT_EQ(server_.service().last_authorization(), "Bearer secret");
}

TEST_F(ClientRetryTest, UnreadableCaFileFailsEveryCall) {
  ClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  Client client(server_.target(), options);
  auto response = client.Get(testing::kOkUrl);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(response.status().message().find("/nonexistent/ca.pem"), absl::string_view::npos);
}

TEST_F(ClientRetryTest, HostAffinityReachesTheReplicaWithUnaryCallsAndStreams) {
  ClientOptions options;
  options.affinity = Affinity::kHost;
  Client client(server_.target(), options);
  auto response = client.Get(testing::kOkUrl);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(server_.service().last_pool_key(), "http://origin.test:80");
  EXPECT_TRUE(client.Stats().ok());
  auto stream = client.OpenStream();
  FetchRequest request = Request("POST");
  request.set_body("via the replica's stream");
  auto answer = stream->Submit(request).get();
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->body(), "via the replica's stream");
}

TEST_F(ClientRetryTest, DefaultDeadlineIsThirtySeconds) {
  EXPECT_EQ(ClientOptions().default_timeout, absl::Seconds(30));
}

}  // namespace
}  // namespace fetchpool
