// budget_client: the greedy-caller load of issue 11 against a fetchpoold:
// `streams` FetchStream calls at once, each sending `fetches` requests for
// `url` as fast as gRPC flow control lets it, and reading every answer.
// Prints one JSON line: answers by outcome, and what was lost.
//
//   budget_client --target=127.0.0.1:50051 --url=http://127.0.0.1:8080/bytes?n=1000000
//                 --streams=4 --fetches=1000
//
// Exit 0 when every request got exactly one answer that is OK (with a body
// of --expect_body bytes, when set) or BUFFER_BUDGET_EXCEEDED, and every
// stream ended OK; 1 otherwise (lost, duplicated, another error).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "fetchpoold address");
ABSL_FLAG(std::string, url, "", "URL every fetch asks for");
ABSL_FLAG(int, streams, 4, "FetchStream calls at once, one channel each");
ABSL_FLAG(int, fetches, 1000, "requests per stream");
ABSL_FLAG(int64_t, expect_body, -1, "body size every OK answer must have; -1: any");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(300), "deadline of each stream");

namespace {

using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;

struct Tally {
  std::mutex mu;
  int64_t ok = 0;
  int64_t budget_exceeded = 0;
  int64_t wrong_body = 0;
  int64_t duplicates = 0;
  int64_t lost = 0;
  int64_t bad_streams = 0;
  std::map<std::string, int64_t> other_errors;  // by reason
};

void RunStream(int index, Tally* tally) {
  const int n = absl::GetFlag(FLAGS_fetches);
  const int64_t expect_body = absl::GetFlag(FLAGS_expect_body);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = fetchpool::v1::FetchPool::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
  auto stream = stub->FetchStream(&context);
  std::thread writer([&] {
    FetchRequest request;
    request.set_url(absl::GetFlag(FLAGS_url));
    for (int i = 0; i < n; ++i) {
      request.set_id(absl::StrCat(index, "-", i));
      if (!stream->Write(request)) break;  // the call ended; counted as lost
    }
    stream->WritesDone();
  });
  std::vector<bool> answered(n, false);
  int64_t ok = 0, budget = 0, wrong = 0, dup = 0;
  std::map<std::string, int64_t> other;
  FetchResponse response;
  while (stream->Read(&response)) {
    const std::string& id = response.id();
    const size_t dash = id.find('-');
    const int i = dash == std::string::npos ? -1 : std::atoi(id.c_str() + dash + 1);
    if (i < 0 || i >= n || answered[i]) {
      ++dup;
      continue;
    }
    answered[i] = true;
    if (response.has_error()) {
      if (response.error().reason() == "BUFFER_BUDGET_EXCEEDED") {
        ++budget;
      } else {
        ++other[response.error().reason()];
      }
    } else if (expect_body >= 0 && static_cast<int64_t>(response.body().size()) != expect_body) {
      ++wrong;
    } else {
      ++ok;
    }
    response.Clear();
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  int64_t lost = 0;
  for (bool a : answered) lost += a ? 0 : 1;
  std::lock_guard<std::mutex> lock(tally->mu);
  tally->ok += ok;
  tally->budget_exceeded += budget;
  tally->wrong_body += wrong;
  tally->duplicates += dup;
  tally->lost += lost;
  for (const auto& [reason, count] : other) tally->other_errors[reason] += count;
  if (!status.ok()) {
    ++tally->bad_streams;
    std::fprintf(stderr, "stream %d ended %d: %s\n", index, status.error_code(),
                 status.error_message().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_url).empty()) {
    std::fprintf(stderr, "budget_client: --url is required\n");
    return 2;
  }
  Tally tally;
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int s = 0; s < absl::GetFlag(FLAGS_streams); ++s) threads.emplace_back(RunStream, s, &tally);
  for (auto& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::string others;
  int64_t other_total = 0;
  for (const auto& [reason, count] : tally.other_errors) {
    absl::StrAppend(&others, others.empty() ? "" : ",", "\"", reason, "\":", count);
    other_total += count;
  }
  std::printf(
      "{\"requests\":%lld,\"ok\":%lld,\"buffer_budget_exceeded\":%lld,\"other_errors\":{%s},"
      "\"wrong_body\":%lld,\"duplicates\":%lld,\"lost\":%lld,\"bad_streams\":%lld,"
      "\"seconds\":%.2f}\n",
      static_cast<long long>(absl::GetFlag(FLAGS_streams)) * absl::GetFlag(FLAGS_fetches),
      static_cast<long long>(tally.ok), static_cast<long long>(tally.budget_exceeded),
      others.c_str(), static_cast<long long>(tally.wrong_body),
      static_cast<long long>(tally.duplicates), static_cast<long long>(tally.lost),
      static_cast<long long>(tally.bad_streams), seconds);
  const bool good = tally.lost == 0 && tally.duplicates == 0 && tally.wrong_body == 0 &&
                    other_total == 0 && tally.bad_streams == 0;
  return good ? 0 : 1;
}
