#ifndef FETCHPOOL_STATS_WATCH_H_
#define FETCHPOOL_STATS_WATCH_H_

#include <memory>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include "absl/status/status.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool {

// One WatchStats call: a StatsResponse every interval, read one at a time
// with a blocking Next(), ended from any thread with Cancel(). Made by
// Client::WatchStats. The other SDKs mirror it as their language's
// stream of snapshots (Go: Recv() until an error; Python: an iterator;
// Node: an async iterator), each with a cancel.
//
//   auto watch = client.WatchStats("", absl::Seconds(1));
//   fetchpool::v1::StatsResponse snapshot;
//   while (watch->Next(&snapshot)) Show(snapshot);   // Cancel() elsewhere ends it
//   if (!watch->status().ok()) Report(watch->status());
//
// The call has no deadline: it runs until Cancel(), the server ends it, or
// the connection fails. It holds its own reference to the channel, so it may
// outlive the Client that made it.
class StatsWatch {
 public:
  StatsWatch(const StatsWatch&) = delete;
  StatsWatch& operator=(const StatsWatch&) = delete;
  // Cancels the call if it is still running and waits for it to end.
  ~StatsWatch();

  // Blocks until the next snapshot (true) or the end of the watch (false,
  // and every later call is false too; status() says why). The call starts
  // on the first Next(), so making a watch never blocks. Call Next() from one
  // thread at a time.
  bool Next(fetchpool::v1::StatsResponse* snapshot);

  // Ends the watch: a Next() blocked now returns false, and so does every
  // later one. Safe from any thread (a signal-watching one, a UI thread), at
  // any time (before the first Next() too), any number of times.
  void Cancel();

  // Why the watch ended, once Next() has returned false: CANCELLED after
  // Cancel(); the server's error otherwise (ErrorReason() gives its stable
  // reason, e.g. INVALID_OPTION for an interval out of range); OK when the
  // server ended the watch normally. OK while the watch is running. Read it
  // on the thread that calls Next().
  absl::Status status() const { return status_; }

 private:
  friend class Client;
  StatsWatch(std::shared_ptr<grpc::Channel> channel, fetchpool::v1::WatchStatsRequest request);

  enum class State { kNotStarted, kReading, kEnded };

  // Reads whatever is left and collects the final status.
  void End();

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<fetchpool::v1::FetchPool::Stub> stub_;
  fetchpool::v1::WatchStatsRequest request_;
  grpc::ClientContext context_;  // thread-safe TryCancel, also before the call starts
  std::unique_ptr<grpc::ClientReader<fetchpool::v1::StatsResponse>> reader_;
  State state_ = State::kNotStarted;
  absl::Status status_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_STATS_WATCH_H_
