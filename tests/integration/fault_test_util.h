#ifndef FETCHPOOL_TESTS_INTEGRATION_FAULT_TEST_UTIL_H_
#define FETCHPOOL_TESTS_INTEGRATION_FAULT_TEST_UTIL_H_

// Helpers shared by the fault, reuse-race, deadline-policy and TIME_WAIT
// integration tests: stats for any pool, polling with a deadline, async
// calls, the kernel's TIME_WAIT count, and a tiny scripted HTTP origin that
// can misbehave on an exact request of an exact connection.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/time_wait_counter.h"
#include "tests/integration/service_fixture.h"
#include "tests/poll_until.h"
#include "engine/engine_test_peer.h"

namespace fetchpool::testing {

inline std::string LoopbackPoolKey(int port) { return absl::StrCat("http://127.0.0.1:", port); }

// The kernel's count of TIME_WAIT sockets whose remote end is
// 127.0.0.1:`port` (our side of connections toward that listener), -1 if
// sock_diag is not available.
inline int64_t KernelTimeWaitTo(int port) {
  auto counts = CountTimeWaitByRemote();
  if (!counts.ok()) return -1;
  auto it = counts->find(absl::StrCat("127.0.0.1:", port));
  return it == counts->end() ? 0 : it->second;
}

// ServiceTest plus helpers for pools other than origin_'s.
class FaultServiceTest : public ServiceTest {
 protected:
  // LoopbackConfig without the Prometheus listener: a fixed port (9464) that
  // another test binary running at the same time may hold.
  static ServerConfig Config() {
    ServerConfig config = LoopbackConfig();
    config.metrics_listen = "";
    return config;
  }

  bool WaitForQuietPoolFor(const std::string& key, absl::Duration limit = absl::Seconds(5)) {
    return PollUntil(
        [&] {
          v1::HostPoolStats s = StatsFor(key);
          return s.busy_connections() == 0 && s.connecting_connections() == 0 &&
                 s.wait_queue_length() == 0;
        },
        limit);
  }

  // The books balance: every opened connection is closed or still held.
  void ExpectBalanced(const v1::HostPoolStats& s) {
    EXPECT_EQ(s.connections_opened_total() - s.connections_closed_total(),
              static_cast<uint64_t>(s.idle_connections()) + s.busy_connections() +
                  s.connecting_connections())
        << s.ShortDebugString();
  }

  // Quiet pool, balanced books, invariants: what every fault test ends with.
  void ExpectQuietAndSound(const std::string& key) {
    EXPECT_TRUE(WaitForQuietPoolFor(key)) << StatsFor(key).ShortDebugString();
    v1::HostPoolStats s = StatsFor(key);
    EXPECT_EQ(s.busy_connections(), 0u);
    EXPECT_EQ(s.wait_queue_length(), 0u);
    ExpectBalanced(s);
    absl::Status inv = EngineTestPeer::CheckInvariants(server_->engine());
    EXPECT_TRUE(inv.ok()) << inv;
  }

  CallResult GetUrl(const std::string& url, absl::Duration timeout = absl::Seconds(10)) {
    v1::FetchRequest request;
    request.set_url(url);
    return Fetch(request, timeout);
  }

  static void Print(const std::string& label, const v1::HostPoolStats& s) {
    std::cout << "[figures] " << label << ": requests=" << s.requests_total()
              << " opened=" << s.connections_opened_total()
              << " closed=" << s.connections_closed_total()
              << " reused=" << s.reused_requests_total() << " retries=" << s.retries_total()
              << " stale_caught=" << s.stale_caught_total()
              << " closed_upstream=" << s.closed_upstream_total()
              << " closed_idle_timeout=" << s.closed_idle_timeout_total()
              << " closed_aborted=" << s.closed_aborted_total()
              << " closed_error=" << s.closed_error_total()
              << " local_closes=" << s.local_closes_total()
              << " time_wait_estimate=" << s.time_wait_estimate()
              << " time_wait_kernel=" << s.time_wait_kernel()
              << " idle_timeout_ms=" << s.idle_timeout_ms() << " failures=" << s.failures_total()
              << std::endl;
  }
};

// Many calls in flight at once through the async stub.
class AsyncCalls {
 public:
  explicit AsyncCalls(v1::FetchPool::Stub* stub) : stub_(stub) {}

  void Start(v1::FetchRequest request, absl::Duration timeout) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoMilliseconds(timeout));
    call->request = std::move(request);
    Call* raw = call.get();
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(std::move(call));
    }
    stub_->async()->Fetch(&raw->context, &raw->request, &raw->result.response,
                          [this, raw](grpc::Status status) {
                            raw->result.status = status;
                            raw->result.reason = ReasonOf(raw->context);
                            done_.fetch_add(1);
                          });
  }

  bool WaitAll(absl::Duration limit) {
    size_t n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      n = calls_.size();
    }
    return PollUntil([&] { return done_.load() >= n; }, limit);
  }

  // Valid after WaitAll returned true.
  std::vector<std::pair<v1::FetchRequest, CallResult>> Results() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::pair<v1::FetchRequest, CallResult>> out;
    for (auto& c : calls_) out.emplace_back(c->request, c->result);
    return out;
  }

 private:
  static std::string ReasonOf(const grpc::ClientContext& context) {
    const auto& trailers = context.GetServerTrailingMetadata();
    auto it = trailers.find(kReasonTrailer);
    return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
  }
  struct Call {
    grpc::ClientContext context;
    v1::FetchRequest request;
    CallResult result;
  };
  v1::FetchPool::Stub* stub_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Call>> calls_;
  std::atomic<size_t> done_{0};
};

// A minimal HTTP/1.1 origin whose behaviour per request is a script:
// respond, or read the request and then close (FIN) or reset (RST) without a
// byte of response. That reproduces deterministically the race of an origin
// closing a keep-alive connection just as a reused request arrives.
class ScriptedOrigin {
 public:
  enum class Action { kRespond, kCloseWithoutResponse, kResetWithoutResponse };
  struct Seen {
    int connection = 0;             // from 1
    int request_on_connection = 0;  // from 1
    std::string method;
    std::string target;
    std::string body;
  };
  using Script = std::function<Action(const Seen&)>;

  explicit ScriptedOrigin(Script script) : script_(std::move(script)) {}
  ~ScriptedOrigin() { Stop(); }

  bool Start() {
    stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (stop_fd_ < 0 || listen_fd_ < 0) return false;
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
    if (listen(listen_fd_, 128) != 0) return false;
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    return true;
  }

  void Stop() {
    if (stop_fd_ >= 0) eventfd_write(stop_fd_, 1);
    if (accept_thread_.joinable()) accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    if (listen_fd_ >= 0) close(listen_fd_);
    if (stop_fd_ >= 0) close(stop_fd_);
    listen_fd_ = stop_fd_ = -1;
  }

  int port() const { return port_; }
  std::string base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::string pool_key() const { return LoopbackPoolKey(port_); }
  int connections() const { return connections_.load(); }
  std::vector<Seen> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  int CountMethod(const std::string& method) const {
    int n = 0;
    for (const Seen& s : seen()) n += s.method == method ? 1 : 0;
    return n;
  }

 private:
  // Waits for fd to be readable; false on stop or timeout (10 s).
  bool WaitReadable(int fd) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {fd, POLLIN, 0}};
    const int rc = poll(fds, 2, 10000);
    return rc > 0 && fds[0].revents == 0;
  }

  void AcceptLoop() {
    while (WaitReadable(listen_fd_)) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) continue;
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const int id = connections_.fetch_add(1) + 1;
      std::lock_guard<std::mutex> lock(mu_);
      threads_.emplace_back([this, fd, id] { Serve(fd, id); });
    }
  }

  // Reads into `buf` until `enough()`; false on EOF, error or stop.
  bool ReadUntil(int fd, std::string& buf, const std::function<bool()>& enough) {
    while (!enough()) {
      char block[4096];
      const ssize_t n = recv(fd, block, sizeof block, 0);
      if (n > 0) {
        buf.append(block, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      if (!WaitReadable(fd)) return false;
    }
    return true;
  }

  void Serve(int fd, int id) {
    std::string buf;
    int requests = 0;
    bool reset = false;
    while (true) {
      size_t head_end = std::string::npos;
      if (!ReadUntil(fd, buf, [&] { return (head_end = buf.find("\r\n\r\n")) != std::string::npos; })) {
        break;
      }
      Seen seen;
      seen.connection = id;
      seen.request_on_connection = ++requests;
      const std::string head = buf.substr(0, head_end);
      std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
      std::vector<std::string> parts = absl::StrSplit(lines[0], ' ');
      if (parts.size() >= 2) {
        seen.method = parts[0];
        seen.target = parts[1];
      }
      size_t length = 0;
      for (size_t i = 1; i < lines.size(); ++i) {
        const size_t colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        if (absl::EqualsIgnoreCase(lines[i].substr(0, colon), "content-length")) {
          absl::SimpleAtoi(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)), &length);
        }
      }
      const size_t body_start = head_end + 4;
      if (!ReadUntil(fd, buf, [&] { return buf.size() >= body_start + length; })) break;
      seen.body = buf.substr(body_start, length);
      buf.erase(0, body_start + length);
      const Action action = script_(seen);
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back(seen);
      }
      if (action == Action::kCloseWithoutResponse) break;
      if (action == Action::kResetWithoutResponse) {
        reset = true;
        break;
      }
      const std::string body = absl::StrCat("conn=", id, " req=", requests);
      const std::string response = absl::StrCat(
          "HTTP/1.1 200 OK\r\nContent-Length: ", body.size(), "\r\nX-Connection-Id: ", id,
          "\r\nX-Request-On-Connection: ", requests, "\r\n\r\n", body);
      if (send(fd, response.data(), response.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(response.size())) {
        break;
      }
    }
    if (reset) {
      const linger abort_on_close = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    }
    close(fd);
  }

  Script script_;
  int port_ = 0;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::vector<std::thread> threads_;
  std::vector<Seen> seen_;
  std::atomic<int> connections_{0};
};

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_INTEGRATION_FAULT_TEST_UTIL_H_
