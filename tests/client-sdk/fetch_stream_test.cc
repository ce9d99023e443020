// The FetchStream wrapper against the fake: id matching, back-pressure,
// errors, a broken stream, Close.
#include "fetchpool/fetch_stream.h"

#include <future>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fetchpool/client.h"
#include "tests/client-sdk/fake_fetchpool.h"

namespace fetchpool {
namespace {

using fetchpool::testing::FakeFetchPoolServer;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;

FetchRequest Post(const std::string& url, const std::string& body) {
  FetchRequest request;
  request.set_method("POST");
  request.set_url(url);
  request.set_body(body);
  return request;
}

bool Ready(const std::future<absl::StatusOr<FetchResponse>>& f, absl::Duration wait = absl::ZeroDuration()) {
  return f.wait_for(absl::ToChronoMilliseconds(wait)) == std::future_status::ready;
}

class FetchStreamTest : public ::testing::Test {
 protected:
  FakeFetchPoolServer server_;
  Client client_{server_.target()};
};

TEST_F(FetchStreamTest, AnswersMatchTheirRequestsInAnyOrder) {
  auto stream = client_.OpenStream();
  auto held = stream->Submit(Post(testing::kHoldUrl, "held"));
  std::vector<std::future<absl::StatusOr<FetchResponse>>> answers;
  for (int i = 0; i < 50; ++i) answers.push_back(stream->Submit(Post(testing::kEchoUrl, absl::StrCat("n", i))));
  for (int i = 0; i < 50; ++i) {
    auto answer = answers[i].get();
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->body(), absl::StrCat("n", i));
  }
  EXPECT_FALSE(Ready(held));  // answered after all the others
  server_.service().ReleaseHeld();
  auto held_answer = held.get();
  ASSERT_TRUE(held_answer.ok());
  EXPECT_EQ(held_answer->body(), "held");
  stream->Close();
  EXPECT_EQ(server_.service().streams_opened(), 1);
}

TEST_F(FetchStreamTest, CallerIdsAreKept) {
  auto stream = client_.OpenStream();
  FetchRequest request = Post(testing::kEchoUrl, "x");
  request.set_id("mine-7");
  auto answer = stream->Submit(request).get();
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->id(), "mine-7");
}

TEST_F(FetchStreamTest, SubmitBlocksWhileMaxInFlightAreUnanswered) {
  auto stream = client_.OpenStream(/*max_in_flight=*/2);
  auto first = stream->Submit(Post(testing::kHoldUrl, "1"));
  auto second = stream->Submit(Post(testing::kHoldUrl, "2"));
  std::promise<std::future<absl::StatusOr<FetchResponse>>> third_submitted;
  std::thread submitter([&] { third_submitted.set_value(stream->Submit(Post(testing::kEchoUrl, "3"))); });
  auto third = third_submitted.get_future();
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_EQ(stream->in_flight(), 2u);
  server_.service().ReleaseHeld();
  ASSERT_EQ(third.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  submitter.join();
  EXPECT_EQ(third.get().get()->body(), "3");
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(second.get().ok());
}

TEST_F(FetchStreamTest, AFailedFetchIsAnErrorWithItsReason) {
  auto stream = client_.OpenStream();
  auto answer = stream->Submit(Post(testing::kRefusedUrl, "")).get();
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(answer.status()), "CONNECT_REFUSED");
  EXPECT_EQ(answer.status().message(), testing::kRefusedMessage);
}

TEST_F(FetchStreamTest, ABrokenStreamFailsTheUnansweredAndTheNextSubmitReopens) {
  auto stream = client_.OpenStream();
  auto held = stream->Submit(Post(testing::kHoldUrl, "held"));
  for (int i = 0; i < 100 && server_.service().held() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  auto breaker = stream->Submit(Post(testing::kBreakStreamUrl, ""));
  auto held_answer = held.get();
  EXPECT_EQ(held_answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(breaker.get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(stream->in_flight(), 0u);
  auto after = stream->Submit(Post(testing::kEchoUrl, "again")).get();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->body(), "again");
  EXPECT_EQ(server_.service().streams_opened(), 2);
}

TEST_F(FetchStreamTest, CloseWaitsForTheOutstandingAnswers) {
  auto stream = client_.OpenStream();
  auto held = stream->Submit(Post(testing::kHoldUrl, "held"));
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(200));
    server_.service().ReleaseHeld();
  });
  stream->Close();
  EXPECT_TRUE(Ready(held));
  EXPECT_TRUE(held.get().ok());
  releaser.join();
}

TEST_F(FetchStreamTest, DuplicateUnansweredIdIsRefused) {
  auto stream = client_.OpenStream();
  FetchRequest request = Post(testing::kHoldUrl, "");
  request.set_id("same");
  auto first = stream->Submit(request);
  auto second = stream->Submit(request).get();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kInvalidArgument);
  server_.service().ReleaseHeld();
  EXPECT_TRUE(first.get().ok());
}

TEST_F(FetchStreamTest, NoServerFailsEverySubmit) {
  Client nowhere("127.0.0.1:1");
  auto stream = nowhere.OpenStream();
  auto answer = stream->Submit(Post(testing::kEchoUrl, "x")).get();
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fetchpool
