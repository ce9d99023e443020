#ifndef FETCHPOOL_FETCH_STREAM_H_
#define FETCHPOOL_FETCH_STREAM_H_

#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool {

class StreamCall;

// Many fetches over FetchStream, made by Client::OpenStream. Thread-safe.
//
//   auto stream = client.OpenStream();
//   std::vector<std::future<absl::StatusOr<v1::FetchResponse>>> answers;
//   for (auto& request : requests) answers.push_back(stream->Submit(request));
//   for (auto& answer : answers) Use(answer.get());
//   stream->Close();
//
// - Answers are matched to requests by `id`; a request without one gets a
//   unique one ("fs-N"). An id already unanswered fails INVALID_ARGUMENT.
// - Back-pressure: Submit blocks while max_in_flight fetches are unanswered.
// - A fetch that failed comes back as an absl::Status built from
//   FetchResponse.error (ErrorReason works on it). No retries.
// - If the stream breaks, every unanswered fetch fails with its status, and
//   the next Submit opens a new stream.
class FetchStream {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<fetchpool::v1::FetchResponse>)>;
  // Which stream a request goes on: its key ("" for one stream) and the
  // channel; without one, the request fails with `error` (UNAVAILABLE if
  // that is OK).
  struct Route {
    std::string key;
    std::shared_ptr<grpc::Channel> channel;
    absl::Status error;
  };
  using Router = std::function<Route(absl::string_view pool_key)>;
  // Extra metadata for every stream opened (the token).
  using Decorate = std::function<void(grpc::ClientContext&)>;

  // Made by Client::OpenStream.
  FetchStream(Router router, Decorate decorate, size_t max_in_flight);
  FetchStream(const FetchStream&) = delete;
  FetchStream& operator=(const FetchStream&) = delete;
  // Close().
  ~FetchStream();

  std::future<absl::StatusOr<fetchpool::v1::FetchResponse>> Submit(fetchpool::v1::FetchRequest request);
  // `done` runs exactly once, on a gRPC thread (or this one, for a request
  // refused before it is sent); it must not block.
  void Submit(fetchpool::v1::FetchRequest request, Callback done);

  // Half-closes every stream and waits for the outstanding answers. Submit
  // after Close opens new streams.
  void Close();

  // Fetches submitted and not answered yet.
  size_t in_flight() const;

 private:
  friend class StreamCall;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_FETCH_STREAM_H_
