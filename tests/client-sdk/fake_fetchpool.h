#ifndef FETCHPOOL_TESTS_CLIENT_SDK_FAKE_FETCHPOOL_H_
#define FETCHPOOL_TESTS_CLIENT_SDK_FAKE_FETCHPOOL_H_

// A FetchPool server with canned answers on 127.0.0.1, so the client SDK and
// fetchpoolctl are tested against the real gRPC wire without the engine.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "absl/synchronization/mutex.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool {
namespace testing {

// URLs the fake answers; any other URL fails with DNS_FAILURE.
inline constexpr char kOkUrl[] = "http://origin.test/ok";          // 200, fixed body and timing
inline constexpr char kEchoUrl[] = "http://origin.test/echo";      // 200, body and headers echoed
inline constexpr char kNotFoundUrl[] = "http://origin.test/404";   // 404
inline constexpr char kRefusedUrl[] = "http://origin.test:81/";    // UNAVAILABLE, CONNECT_REFUSED
inline constexpr char kSlowUrl[] = "http://origin.test/slow";      // holds until cancelled (10 s at most)
inline constexpr char kBigUrl[] = "http://origin.test/big";        // kBigBodySize bytes of body
// FetchStream only: answered once ReleaseHeld() is called (or the call ends).
inline constexpr char kHoldUrl[] = "http://origin.test/hold";
// FetchStream only: ends the whole stream with UNAVAILABLE, no reason.
inline constexpr char kBreakStreamUrl[] = "http://origin.test/break";

inline constexpr char kOkBody[] = "hello from the fake\n";
inline constexpr char kRefusedMessage[] = "CONNECT_REFUSED: connect to http://origin.test:81 refused";
inline constexpr size_t kBigBodySize = 5 * 1024 * 1024;  // over gRPC's 4 MiB default

// Four pools, in no particular order, with totals summed over them.
fetchpool::v1::StatsResponse CannedStats();

// Hosts of the pools in the WatchStats snapshots, in the order sent.
std::vector<std::string> WatchedHosts();

// The `index`-th snapshot WatchStats sends (any index >= 0): six pools a
// busy service might have, their counters and histograms grown by about one
// second of traffic per index, gauges varying, totals summed as the server
// does. `host` filters like the server: one pool or none, pool_count still
// counting all six.
fetchpool::v1::StatsResponse CannedWatchSnapshot(int index, const std::string& host = "");

class FakeFetchPoolService final : public fetchpool::v1::FetchPool::Service {
 public:
  grpc::Status Fetch(grpc::ServerContext* context, const fetchpool::v1::FetchRequest* request,
                     fetchpool::v1::FetchResponse* response) override;
  grpc::Status Stats(grpc::ServerContext* context, const fetchpool::v1::StatsRequest* request,
                     fetchpool::v1::StatsResponse* response) override;
  // CannedWatchSnapshot(0, host), (1, host), ... one per interval until the
  // caller goes away (CANCELLED). The interval is checked as the server
  // does: unset means 1s; outside 100ms..1m fails with INVALID_ARGUMENT /
  // INVALID_OPTION.
  grpc::Status WatchStats(grpc::ServerContext* context, const fetchpool::v1::WatchStatsRequest* request,
                          grpc::ServerWriter<fetchpool::v1::StatsResponse>* writer) override;
  // Each request answered as Fetch would (an error in FetchResponse.error),
  // on a thread of its own, so answers may come in any order.
  grpc::Status FetchStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<fetchpool::v1::FetchResponse, fetchpool::v1::FetchRequest>* stream) override;

  // The next `count` Fetch calls fail with `code` and, when not "", the
  // reason `reason`, before looking at the URL.
  void FailNextFetches(int count, grpc::StatusCode code, const std::string& reason);
  // Fetch calls received, failed on purpose or not.
  int fetch_calls() const { return fetch_calls_.load(); }
  // Metadata of the last Fetch call ("" when absent).
  std::string last_pool_key() const;
  std::string last_authorization() const;
  // Lets every kHoldUrl request of every stream be answered.
  void ReleaseHeld();
  // kHoldUrl requests waiting now.
  int held() const { return held_.load(); }
  // FetchStream calls opened so far.
  int streams_opened() const { return streams_opened_.load(); }

  fetchpool::v1::FetchRequest last_request() const;
  // Slow fetches that ended because the caller went away (cancel or deadline).
  int abandoned_slow_calls() const { return abandoned_slow_calls_.load(); }

  fetchpool::v1::WatchStatsRequest last_watch_request() const;
  // Snapshots written, over all watches.
  int watch_snapshots_sent() const { return watch_snapshots_sent_.load(); }
  // Watches that ended because the caller cancelled or went away.
  int cancelled_watches() const { return cancelled_watches_.load(); }
  // From now on, a watch ends with OK after this many snapshots, as when the
  // server shuts down; 0 (the default) means never.
  void EndWatchesAfter(int snapshots) { end_watches_after_ = snapshots; }

 private:
  mutable absl::Mutex mu_;
  fetchpool::v1::FetchRequest last_request_ ABSL_GUARDED_BY(mu_);
  fetchpool::v1::WatchStatsRequest last_watch_request_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> abandoned_slow_calls_{0};
  std::atomic<int> watch_snapshots_sent_{0};
  std::atomic<int> cancelled_watches_{0};
  std::atomic<int> end_watches_after_{0};
  std::atomic<int> fetch_calls_{0};
  std::atomic<int> held_{0};
  std::atomic<int> streams_opened_{0};
  int fail_next_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::StatusCode fail_code_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::OK;
  std::string fail_reason_ ABSL_GUARDED_BY(mu_);
  std::string last_pool_key_ ABSL_GUARDED_BY(mu_);
  std::string last_authorization_ ABSL_GUARDED_BY(mu_);
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

// Serves FakeFetchPoolService on 127.0.0.1:port (0 picks a free port).
class FakeFetchPoolServer {
 public:
  explicit FakeFetchPoolServer(int port = 0);
  ~FakeFetchPoolServer();  // cancels calls still running after 2 s

  std::string target() const;  // "127.0.0.1:PORT"
  int port() const { return port_; }
  FakeFetchPoolService& service() { return service_; }

 private:
  FakeFetchPoolService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace testing
}  // namespace fetchpool

#endif  // FETCHPOOL_TESTS_CLIENT_SDK_FAKE_FETCHPOOL_H_
