#ifndef FETCHPOOL_TESTS_ORIGIN_TEST_ORIGIN_H_
#define FETCHPOOL_TESTS_ORIGIN_TEST_ORIGIN_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fetchpool::testing {

// A small HTTP/1.1 origin on 127.0.0.1 for tests and benchmarks. It can
// misbehave on request (slow bodies, truncation, resets, early closes) so the
// pool's handling of real-world origin failures can be exercised without any
// external server.
//
// Routes (path + query):
//   /echo                         200, body = request body; X-Method,
//                                 X-Echo-<name> for every x-* request header
//   /status/<code>                that status, body "status <code>"
//   /sleep?ms=N                   200 "slept" after N ms
//   /bytes?n=N                    N bytes of 'x'
//   /chunked?n=N&chunk=C          N bytes, chunked, C bytes per chunk
//   /slowbody?n=N&interval_ms=I&chunk=C
//                                 Content-Length N, C bytes every I ms
//   /truncate?promise=N&send=M    Content-Length N, M < N bytes, then FIN
//   /reset                        no response, RST
//   /reset_mid_body?promise=N&send=M
//                                 Content-Length N, M < N bytes, then RST
//   /close                        200 with Connection: close, then FIN
//   /keepalive?timeout=S          200 with Keep-Alive: timeout=S
//   /redirect?to=URL&code=302     that code with Location: URL
//   /dump                         200, body = "METHOD\n", every request
//                                 header as "Name: value\n", "\n", the body
//   /many_headers?n=N&size=S      200 with N extra headers X-Pad-<i> of S bytes
//   /interim?n=K&headers=H        K "103 Early Hints" with H Link headers
//                                 each, then 200 "after hints"
//   /count?key=K&ms=N             counts the request under K (see hits()),
//                                 then 200 "counted" after N ms (default 0)
//   /hits?key=K                   200, body = how many /count requests K
//                                 has had (decimal); not counted itself
//   anything else                 404
// Every response carries X-Connection-Id (serial number of the TCP
// connection, from 1) and X-Request-On-Connection (from 1), so a test can see
// connection reuse on any route. Bad query parameters get a 400.
//
// One thread per connection; every wait polls a stop descriptor, so Stop()
// finishes in bounded time whatever the clients are doing.
class TestOrigin {
 public:
  struct Options {
    // 0 picks an ephemeral port; see port() after Start().
    int port = 0;
    // Close a keep-alive connection that has waited this long for a request
    // (the server closes first, like uvicorn's 5 s keep-alive). Zero: never.
    absl::Duration idle_close_after = absl::ZeroDuration();
    // If > 0, every response carries "Keep-Alive: timeout=N".
    int keep_alive_hint_seconds = 0;
    // If > 0, the N-th response on a connection carries "Connection: close"
    // and the server closes after it.
    int max_requests_per_connection = 0;
    // Added before every response (after the request has been read).
    absl::Duration response_delay = absl::ZeroDuration();
    // Address to listen on: IPv4 (another 127.x.y.z, or an address added to
    // lo inside a network namespace, e.g. 10.0.0.1) or IPv6 (e.g. "::1").
    std::string bind_address = "127.0.0.1";
  };

  TestOrigin();
  explicit TestOrigin(Options options);
  ~TestOrigin();  // Calls Stop().

  TestOrigin(const TestOrigin&) = delete;
  TestOrigin& operator=(const TestOrigin&) = delete;

  // Binds, listens and starts accepting. Call at most once.
  absl::Status Start();
  // Closes the listener and every connection (gracefully, with FIN) and
  // joins all threads. Idempotent; requests in progress get no response.
  void Stop();

  int port() const { return port_; }
  // "http://127.0.0.1:PORT", or "http://[::1]:PORT" for an IPv6 address.
  std::string base_url() const;
  // How many /count requests key has had (read completely, so counted
  // before any response to them is written).
  int64_t hits(const std::string& key) const;

  int64_t connections_accepted() const { return connections_accepted_.load(); }
  // Counted when a request has been read completely, before its response is
  // written, so a client that has its response always sees it counted.
  int64_t requests_served() const { return requests_served_.load(); }
  // Decremented just before the socket is closed, so a client that has seen
  // the server's FIN or RST sees the new value.
  int64_t open_connections() const { return open_connections_.load(); }
  // Closes the server initiated: it closed without having seen the client's
  // EOF or an error first (idle close, Connection: close, truncation, reset,
  // request limit, Stop()). The closing side keeps the TIME_WAIT.
  int64_t connections_closed_by_server() const {
    return connections_closed_by_server_.load();
  }
  // Zeroes accepted, served and closed-by-server. open_connections() is a
  // gauge and connection ids keep counting, so neither is reset.
  void ResetCounters();

  // Connection threads not yet joined (running, or finished and about to be
  // reaped). Lets a test check that thousands of connections leave no
  // threads behind.
  size_t connection_threads() const;

 private:
  class Connection;

  void AcceptLoop();
  void AcceptPending();
  void SpawnConnection(int fd);
  void ServeConnection(int fd, uint64_t id);
  void ReapFinishedThreads();

  const Options options_;
  int port_ = 0;
  int listen_fd_ = -1;
  // An eventfd that becomes readable (and stays so) when Stop() begins;
  // every blocking wait in the origin polls it.
  int stop_fd_ = -1;
  // Mirrors the stop descriptor for loops that do not poll between reads
  // or writes while data keeps flowing.
  std::atomic<bool> stopping_{false};

  // std::mutex rather than absl::Mutex: Debian's prebuilt Abseil is not
  // instrumented for ThreadSanitizer, so TSan cannot see absl::Mutex
  // ordering and reports false races, while pthread mutexes are
  // intercepted.
  std::mutex lifecycle_mu_;  // guards started_, running_, accept_thread_
  bool started_ = false;
  bool running_ = false;
  std::thread accept_thread_;

  mutable std::mutex threads_mu_;  // guards threads_ and finished_
  std::map<uint64_t, std::thread> threads_;
  std::vector<uint64_t> finished_;

  uint64_t next_connection_id_ = 1;  // Only the accept thread uses it.
  std::atomic<int64_t> connections_accepted_{0};
  std::atomic<int64_t> requests_served_{0};
  std::atomic<int64_t> open_connections_{0};
  std::atomic<int64_t> connections_closed_by_server_{0};

  mutable std::mutex hits_mu_;  // guards hits_
  std::map<std::string, int64_t> hits_;
};

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_ORIGIN_TEST_ORIGIN_H_
