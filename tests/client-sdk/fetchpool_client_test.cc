// Client against the fake server: results, errors and their
// reasons, the async path and its cancellation, Stats, WatchStats.
#include "fetchpool/client.h"

#include <atomic>
#include <memory>
#include <thread>

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "tests/client-sdk/fake_fetchpool.h"

namespace fetchpool {
namespace client {
namespace {

using fetchpool::testing::FakeFetchPoolServer;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;
using fetchpool::v1::StatsResponse;
using google::protobuf::util::MessageDifferencer;

// Upper bound on any wait in these tests; calls normally end in milliseconds.
constexpr absl::Duration kBound = absl::Seconds(5);

FetchRequest RequestFor(const std::string& url) {
  FetchRequest request;
  request.set_url(url);
  return request;
}

// Collects one FetchAsync result.
struct AsyncResult {
  absl::Notification done;
  absl::StatusOr<FetchResponse> result = absl::UnknownError("callback not run");

  Client::FetchCallback Callback() {
    return [this](absl::StatusOr<FetchResponse> r) {
      result = std::move(r);
      done.Notify();
    };
  }
};

class ClientTest : public ::testing::Test {
 protected:
  FakeFetchPoolServer server_;
  Client client_{server_.target()};
};

TEST_F(ClientTest, FetchReturnsTheResponse) {
  FetchRequest request = RequestFor(testing::kOkUrl);
  request.set_id("req-1");
  auto response = client_.Fetch(request, kBound);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status(), 200);
  EXPECT_EQ(response->body(), testing::kOkBody);
  EXPECT_EQ(response->id(), "req-1");
  EXPECT_TRUE(response->connection_reused());
  EXPECT_EQ(response->pool(), "http://origin.test:80");
  ASSERT_EQ(response->headers_size(), 2);
  EXPECT_EQ(response->headers(0).name(), "Content-Type");
}

TEST_F(ClientTest, UpstreamHttpErrorIsAResponse) {
  auto response = client_.Fetch(RequestFor(testing::kNotFoundUrl), kBound);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status(), 404);
}

TEST_F(ClientTest, ErrorKeepsCodeMessageAndReason) {
  auto response = client_.Fetch(RequestFor(testing::kRefusedUrl), kBound);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(response.status().message(), testing::kRefusedMessage);
  EXPECT_EQ(ErrorReason(response.status()), "CONNECT_REFUSED");
}

TEST_F(ClientTest, ErrorReasonIsEmptyWithoutTrailer) {
  EXPECT_EQ(ErrorReason(absl::OkStatus()), "");
  EXPECT_EQ(ErrorReason(absl::UnavailableError("no reason here")), "");

  // A gRPC deadline is decided by the client: fetchpool sent no reason.
  auto response = client_.Fetch(RequestFor(testing::kSlowUrl), absl::Milliseconds(100));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorReason(response.status()), "");
}

TEST_F(ClientTest, UnreachableServerIsUnavailable) {
  Client nowhere("127.0.0.1:1");  // nothing listens on port 1
  auto response = nowhere.Fetch(RequestFor(testing::kOkUrl), kBound);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(response.status()), "");
}

TEST_F(ClientTest, GetSendsAGet) {
  auto response = client_.Get(testing::kOkUrl);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body(), testing::kOkBody);
  EXPECT_EQ(server_.service().last_request().method(), "GET");
  EXPECT_EQ(server_.service().last_request().url(), testing::kOkUrl);
}

TEST_F(ClientTest, ReceivesBodiesOverGrpcDefaultLimit) {
  auto response = client_.Fetch(RequestFor(testing::kBigUrl), kBound);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body().size(), testing::kBigBodySize);
}

TEST_F(ClientTest, CallerBuiltChannelIsUsed) {
  Client client(grpc::CreateChannel(server_.target(), grpc::InsecureChannelCredentials()));
  auto response = client.Fetch(RequestFor(testing::kOkUrl), kBound);
  ASSERT_TRUE(response.ok()) << response.status();
  // That channel keeps gRPC's 4 MiB receive limit: the option is not applied.
  auto big = client.Fetch(RequestFor(testing::kBigUrl), kBound);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ClientTest, FetchAsyncDeliversTheResponse) {
  AsyncResult r;
  client_.FetchAsync(RequestFor(testing::kOkUrl), kBound, r.Callback());
  ASSERT_TRUE(r.done.WaitForNotificationWithTimeout(kBound));
  ASSERT_TRUE(r.result.ok()) << r.result.status();
  EXPECT_EQ(r.result->body(), testing::kOkBody);
}

TEST_F(ClientTest, FetchAsyncDeliversTheReason) {
  AsyncResult r;
  client_.FetchAsync(RequestFor(testing::kRefusedUrl), r.Callback());
  ASSERT_TRUE(r.done.WaitForNotificationWithTimeout(kBound));
  EXPECT_EQ(r.result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(r.result.status()), "CONNECT_REFUSED");
}

TEST_F(ClientTest, CancelEndsTheCallOnBothSides) {
  AsyncResult r;
  PendingFetch call = client_.FetchAsync(RequestFor(testing::kSlowUrl), kBound, r.Callback());
  EXPECT_FALSE(r.done.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  call.Cancel();
  ASSERT_TRUE(r.done.WaitForNotificationWithTimeout(kBound));
  EXPECT_EQ(r.result.status().code(), absl::StatusCode::kCancelled);
  // The server saw it too, so its handler stopped waiting.
  absl::Time give_up = absl::Now() + kBound;
  while (server_.service().abandoned_slow_calls() == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(server_.service().abandoned_slow_calls(), 1);
}

TEST_F(ClientTest, CancelAfterCompletionChangesNothing) {
  AsyncResult r;
  PendingFetch call = client_.FetchAsync(RequestFor(testing::kOkUrl), kBound, r.Callback());
  ASSERT_TRUE(r.done.WaitForNotificationWithTimeout(kBound));
  call.Cancel();
  call.Cancel();
  EXPECT_TRUE(r.result.ok()) << r.result.status();
  PendingFetch().Cancel();  // an empty handle is harmless too
}

TEST_F(ClientTest, DestroyingTheClientCancelsItsCalls) {
  AsyncResult r;
  PendingFetch call;
  {
    Client short_lived(server_.target());
    call = short_lived.FetchAsync(RequestFor(testing::kSlowUrl), kBound, r.Callback());
  }
  // The destructor waited for the callback.
  EXPECT_TRUE(r.done.HasBeenNotified());
  EXPECT_EQ(r.result.status().code(), absl::StatusCode::kCancelled);
  call.Cancel();
}

// The destructor waits for a callback that is running, so the channel is
// never dropped on gRPC's callback thread (grpc/grpc#32584: that thread would
// join itself and crash).
TEST_F(ClientTest, ClientDestroyedWhileItsCallbackRuns) {
  absl::Notification entered;
  std::atomic<bool> returned{false};
  {
    Client client(server_.target());
    client.FetchAsync(RequestFor(testing::kOkUrl), kBound, [&](absl::StatusOr<FetchResponse>) {
      entered.Notify();
      absl::SleepFor(absl::Milliseconds(50));
      returned = true;
    });
    ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kBound));
  }
  EXPECT_TRUE(returned);
}

TEST_F(ClientTest, FetchAsyncHonoursTheTimeout) {
  AsyncResult r;
  client_.FetchAsync(RequestFor(testing::kSlowUrl), absl::Milliseconds(100), r.Callback());
  ASSERT_TRUE(r.done.WaitForNotificationWithTimeout(kBound));
  EXPECT_EQ(r.result.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(ClientTest, StatsOfAllPools) {
  auto stats = client_.Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->pools_size(), 4);
  EXPECT_EQ(stats->pool_count(), 4u);
  EXPECT_EQ(stats->totals().wait_queue_length(), 36u);
}

TEST_F(ClientTest, StatsOfOneHost) {
  auto stats = client_.Stats("http://api.internal:80", kBound);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->pools_size(), 1);
  EXPECT_EQ(stats->pools(0).busy_connections(), 8u);
}

// Waits (up to kBound) for the fake to count a cancelled watch.
bool ServerSawWatchCancelled(FakeFetchPoolServer& server, int count = 1) {
  const absl::Time give_up = absl::Now() + kBound;
  while (server.service().cancelled_watches() < count && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  return server.service().cancelled_watches() >= count;
}

TEST_F(ClientTest, WatchStatsStreamsSnapshotsInOrder) {
  auto watch = client_.WatchStats("", absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  StatsResponse snapshot;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(watch->Next(&snapshot)) << watch->status();
    EXPECT_TRUE(MessageDifferencer::Equals(snapshot, testing::CannedWatchSnapshot(i))) << i;
  }
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));  // the first at once, then every interval
  EXPECT_TRUE(watch->status().ok());
  auto sent = server_.service().last_watch_request();
  EXPECT_EQ(sent.host(), "");
  EXPECT_EQ(sent.interval().seconds(), 0);
  EXPECT_EQ(sent.interval().nanos(), 100000000);

  watch->Cancel();
  EXPECT_FALSE(watch->Next(&snapshot));
  EXPECT_EQ(watch->status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(watch->Next(&snapshot));  // and stays ended
  EXPECT_TRUE(ServerSawWatchCancelled(server_));
}

TEST_F(ClientTest, WatchStatsOfOneHostWithTheDefaultInterval) {
  auto watch = client_.WatchStats("http://slow.internal:8080");
  StatsResponse snapshot;
  ASSERT_TRUE(watch->Next(&snapshot)) << watch->status();
  ASSERT_EQ(snapshot.pools_size(), 1);
  EXPECT_EQ(snapshot.pools(0).host(), "http://slow.internal:8080");
  EXPECT_EQ(snapshot.pool_count(), 6u);
  auto sent = server_.service().last_watch_request();
  EXPECT_EQ(sent.host(), "http://slow.internal:8080");
  EXPECT_FALSE(sent.has_interval());  // the server's default
}

TEST_F(ClientTest, WatchStatsSendsLongIntervalsExactly) {
  auto watch = client_.WatchStats("", absl::Milliseconds(2500));
  StatsResponse snapshot;
  ASSERT_TRUE(watch->Next(&snapshot)) << watch->status();
  auto sent = server_.service().last_watch_request();
  EXPECT_EQ(sent.interval().seconds(), 2);
  EXPECT_EQ(sent.interval().nanos(), 500000000);
}

TEST_F(ClientTest, WatchStatsCancelUnblocksNextOnAnotherThread) {
  auto watch = client_.WatchStats("", absl::Minutes(1));
  StatsResponse first;
  ASSERT_TRUE(watch->Next(&first)) << watch->status();
  absl::Notification ended;
  bool got_another = true;
  std::thread reader([&] {
    StatsResponse next;
    got_another = watch->Next(&next);  // the next snapshot is a minute away
    ended.Notify();
  });
  EXPECT_FALSE(ended.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  watch->Cancel();
  EXPECT_TRUE(ended.WaitForNotificationWithTimeout(kBound));
  reader.join();
  EXPECT_FALSE(got_another);
  EXPECT_EQ(watch->status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(ServerSawWatchCancelled(server_));
}

TEST_F(ClientTest, WatchStatsCancelledBeforeTheFirstNext) {
  auto watch = client_.WatchStats();
  watch->Cancel();
  watch->Cancel();
  StatsResponse snapshot;
  EXPECT_FALSE(watch->Next(&snapshot));
  EXPECT_EQ(watch->status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(server_.service().watch_snapshots_sent(), 0);
}

TEST_F(ClientTest, WatchStatsErrorCarriesTheReason) {
  auto watch = client_.WatchStats("", absl::Milliseconds(10));
  StatsResponse snapshot;
  EXPECT_FALSE(watch->Next(&snapshot));
  EXPECT_EQ(watch->status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(watch->status()), "INVALID_OPTION");
  EXPECT_EQ(watch->status().message(), "INVALID_OPTION: interval is 10ms; it must be between 100ms and 1m");
}

TEST_F(ClientTest, WatchStatsEndedByTheServerIsOk) {
  server_.service().EndWatchesAfter(2);
  auto watch = client_.WatchStats("", absl::Milliseconds(100));
  StatsResponse snapshot;
  EXPECT_TRUE(watch->Next(&snapshot));
  EXPECT_TRUE(watch->Next(&snapshot));
  EXPECT_FALSE(watch->Next(&snapshot));
  EXPECT_TRUE(watch->status().ok()) << watch->status();
}

TEST_F(ClientTest, WatchStatsWithoutAServerIsUnavailable) {
  Client nowhere("127.0.0.1:1");
  auto watch = nowhere.WatchStats();
  StatsResponse snapshot;
  EXPECT_FALSE(watch->Next(&snapshot));
  EXPECT_EQ(watch->status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ClientTest, DestroyingAWatchCancelsIt) {
  auto watch = client_.WatchStats("", absl::Minutes(1));
  StatsResponse snapshot;
  ASSERT_TRUE(watch->Next(&snapshot));
  const absl::Time start = absl::Now();
  watch.reset();
  EXPECT_LT(absl::Now() - start, kBound);
  EXPECT_TRUE(ServerSawWatchCancelled(server_));
  // Never started: nothing to cancel.
  client_.WatchStats().reset();
}

TEST_F(ClientTest, WatchOutlivesItsClient) {
  std::unique_ptr<StatsWatch> watch;
  {
    Client short_lived(server_.target());
    watch = short_lived.WatchStats("", absl::Milliseconds(100));
  }
  StatsResponse snapshot;
  ASSERT_TRUE(watch->Next(&snapshot)) << watch->status();
  ASSERT_TRUE(watch->Next(&snapshot)) << watch->status();
  EXPECT_TRUE(MessageDifferencer::Equals(snapshot, testing::CannedWatchSnapshot(1)));
}

}  // namespace
}  // namespace client
}  // namespace fetchpool
