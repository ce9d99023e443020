#include "fetchpool/stats_watch.h"

#include <utility>

#include "client-sdk/cpp/client_status.h"

namespace fetchpool {

StatsWatch::StatsWatch(std::shared_ptr<grpc::Channel> channel, fetchpool::v1::WatchStatsRequest request)
    : channel_(std::move(channel)),
      stub_(fetchpool::v1::FetchPool::NewStub(channel_)),
      request_(std::move(request)) {}

StatsWatch::~StatsWatch() {
  if (state_ != State::kReading) return;
  // gRPC wants every started stream read to its end and finished.
  context_.TryCancel();
  End();
}

bool StatsWatch::Next(fetchpool::v1::StatsResponse* snapshot) {
  if (state_ == State::kEnded) return false;
  if (state_ == State::kNotStarted) {
    // Blocks until the request is sent (or the channel fails); a Cancel()
    // from another thread meanwhile cancels the call as soon as it exists.
    reader_ = stub_->WatchStats(&context_, request_);
    state_ = State::kReading;
  }
  if (reader_->Read(snapshot)) return true;
  End();
  return false;
}

void StatsWatch::Cancel() { context_.TryCancel(); }

void StatsWatch::End() {
  fetchpool::v1::StatsResponse rest;
  while (reader_->Read(&rest)) {
  }
  status_ = StatusFromGrpc(reader_->Finish(), context_);
  state_ = State::kEnded;
}

}  // namespace fetchpool
