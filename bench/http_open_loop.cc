// http_open_loop: a constant-rate (open loop) HTTP/1.1 GET client, for the
// latency columns of bench/run.sh (wrk2 is not in Debian).
//
//   http_open_loop --url=http://127.0.0.1:8080/ --rate=5000 --duration=5s
//                  [--connections=64] [--json]
//
// Request i is due at start + i/rate and its latency is measured from that
// intended time, whatever happens to it, so a server that stalls is charged
// for the requests queued behind the stall (no coordinated omission). Up to
// --connections keep-alive connections (opened before the clock starts) each
// carry one request at a time; a due request waits here for a free one, and
// that wait counts too.
//
// One thread, plain sockets on epoll, epoll_pwait2 for sub-millisecond
// wake-ups: about two system calls per request, so that the client's own
// cost and jitter stay small next to what is measured. (A libcurl multi
// version spent most of its time in curl once it fell behind, and a poll
// with millisecond granularity would add up to a millisecond to every
// latency.) It speaks just enough HTTP/1.1 for a benchmark origin: a GET,
// and a response whose body length is given by Content-Length.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, url, "", "http://host:port/path every request GETs");
ABSL_FLAG(double, rate, 1000, "requests per second");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "how long to send");
ABSL_FLAG(absl::Duration, drain, absl::Seconds(5), "longest wait for answers afterwards");
ABSL_FLAG(int, connections, 64, "keep-alive connections to the host");
ABSL_FLAG(bool, json, false, "print one JSON object instead of text");

namespace {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Conn {
  int fd = -1;
  bool busy = false;
  int64_t intended_ns = 0;
  std::string in;
};

struct Stats {
  bool measuring = false;
  std::vector<double> latencies_us;
  int64_t ok = 0;
  int64_t errors = 0;
  std::string first_error;

  void Done(int64_t intended_ns, bool good, const std::string& error) {
    if (!measuring) return;
    latencies_us.push_back((NowNs() - intended_ns) / 1000.0);
    if (good) {
      ++ok;
    } else {
      ++errors;
      if (first_error.empty()) first_error = error;
    }
  }
};

class Client {
 public:
  Client(sockaddr_storage addr, socklen_t addr_len, std::string request, int connections)
      : addr_(addr), addr_len_(addr_len), request_(std::move(request)), conns_(connections) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
  }

  bool ConnectAll(std::string* error) {
    for (size_t i = 0; i < conns_.size(); ++i) {
      if (!Connect(i, error)) return false;
    }
    return true;
  }

  // A request due at `intended_ns`: sent now on an idle connection, or
  // queued for the next one that frees up.
  void Due(int64_t intended_ns) {
    queue_.push_back(intended_ns);
    Dispatch();
  }

  // Waits for answers until `wake_ns` at the latest.
  void Step(int64_t wake_ns) {
    const int64_t wait = std::max<int64_t>(0, wake_ns - NowNs());
    timespec ts{static_cast<time_t>(wait / 1000000000), static_cast<long>(wait % 1000000000)};
    epoll_event events[128];
    const int n = epoll_pwait2(epfd_, events, 128, &ts, nullptr);
    for (int i = 0; i < n; ++i) OnReadable(events[i].data.u32);
    Dispatch();
  }

  int64_t outstanding() const { return busy_ + static_cast<int64_t>(queue_.size()); }
  Stats& stats() { return stats_; }

 private:
  bool Connect(size_t i, std::string* error) {
    Conn& c = conns_[i];
    if (c.fd >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
    }
    c = Conn{};
    const int fd = socket(addr_.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&addr_), addr_len_) != 0) {
      *error = absl::StrCat("connect: ", std::strerror(errno));
      if (fd >= 0) close(fd);
      return false;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    c.fd = fd;
    idle_.push_back(i);
    return true;
  }

  void Dispatch() {
    while (!queue_.empty() && !idle_.empty()) {
      const size_t i = idle_.back();
      idle_.pop_back();
      Conn& c = conns_[i];
      c.busy = true;
      c.intended_ns = queue_.front();
      queue_.pop_front();
      ++busy_;
      // A fresh request fits an empty socket buffer: one write, or a failure.
      const ssize_t n = send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL);
      if (n != static_cast<ssize_t>(request_.size())) {
        Fail(i, absl::StrCat("send: ", n < 0 ? std::strerror(errno) : "short write"));
      }
    }
  }

  void Fail(size_t i, const std::string& error) {
    Conn& c = conns_[i];
    if (c.busy) {
      stats_.Done(c.intended_ns, false, error);
      --busy_;
    } else {
      idle_.erase(std::remove(idle_.begin(), idle_.end(), i), idle_.end());
    }
    std::string connect_error;
    if (!Connect(i, &connect_error)) {  // the connection slot is lost
      if (stats_.first_error.empty()) stats_.first_error = connect_error;
    }
  }

  void OnReadable(size_t i) {
    Conn& c = conns_[i];
    char buf[16384];
    for (;;) {
      const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
      if (n > 0) {
        c.in.append(buf, n);
        if (n < static_cast<ssize_t>(sizeof(buf))) break;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0 && errno == EINTR) continue;
      Fail(i, n == 0 ? "connection closed by the server" : std::strerror(errno));
      return;
    }
    // One complete response: status line, headers, Content-Length body.
    const size_t header_end = c.in.find("\r\n\r\n");
    if (header_end == std::string::npos) return;
    absl::string_view head(c.in.data(), header_end);
    int status = 0;
    if (head.size() > 12 && absl::StartsWith(head, "HTTP/1.")) {
      absl::SimpleAtoi(head.substr(9, 3), &status);
    }
    int64_t length = -1;
    size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != absl::string_view::npos) {
      pos += 2;
      absl::string_view line = head.substr(pos, head.find("\r\n", pos) - pos);
      if (line.size() > 15 && absl::EqualsIgnoreCase(line.substr(0, 15), "content-length:")) {
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)), &length);
      }
    }
    if (length < 0) {
      Fail(i, "response without Content-Length");
      return;
    }
    const size_t total = header_end + 4 + static_cast<size_t>(length);
    if (c.in.size() < total) return;
    if (!c.busy) {
      Fail(i, "response nobody asked for");
      return;
    }
    const bool extra = c.in.size() > total;
    stats_.Done(c.intended_ns, status >= 200 && status < 300, absl::StrCat("HTTP ", status));
    c.busy = false;
    --busy_;
    c.in.clear();
    if (extra) {
      Fail(i, "bytes after the response");
      return;
    }
    idle_.push_back(i);
  }

  const sockaddr_storage addr_;
  const socklen_t addr_len_;
  const std::string request_;
  std::vector<Conn> conns_;
  std::vector<size_t> idle_;
  std::deque<int64_t> queue_;  // intended times of due requests
  int64_t busy_ = 0;
  int epfd_ = -1;
  Stats stats_;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1) + 0.5));
  return sorted[i];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  prctl(PR_SET_TIMERSLACK, 1UL);  // wake on time, not up to 50 us late
  const std::string url = absl::GetFlag(FLAGS_url);
  const double rate = absl::GetFlag(FLAGS_rate);
  const int connections = std::max(1, absl::GetFlag(FLAGS_connections));
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://") || rate <= 0) {
    std::fprintf(stderr, "http_open_loop: --url=http://host:port/path and --rate > 0 required\n");
    return 2;
  }
  const size_t slash = rest.find('/');
  const std::string authority(rest.substr(0, slash));
  const std::string path = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  const size_t colon = authority.rfind(':');
  const std::string host = authority.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    std::fprintf(stderr, "http_open_loop: cannot resolve %s\n", authority.c_str());
    return 2;
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
  const socklen_t addr_len = found->ai_addrlen;
  freeaddrinfo(found);

  Client c(addr, addr_len,
           absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", authority,
                        "\r\nUser-Agent: fetchpool-bench\r\nAccept: */*\r\n\r\n"),
           connections);
  std::string error;
  if (!c.ConnectAll(&error)) {
    std::fprintf(stderr, "http_open_loop: %s: %s\n", authority.c_str(), error.c_str());
    return 1;
  }
  // Warm-up, not measured: one request on every connection.
  const int64_t warm_end = NowNs() + 5000000000LL;
  for (int i = 0; i < connections; ++i) c.Due(NowNs());
  while (c.outstanding() > 0 && NowNs() < warm_end) c.Step(warm_end);
  if (c.outstanding() > 0) {
    std::fprintf(stderr, "http_open_loop: warm-up requests to %s did not finish\n", url.c_str());
    return 1;
  }

  c.stats().measuring = true;
  const double interval_ns = 1e9 / rate;
  const int64_t start = NowNs();
  const int64_t send_end = start + absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_duration));
  int64_t sent = 0;
  int64_t max_lag_ns = 0;
  int64_t late_sends = 0;  // noticed over 1 ms after they were due
  int64_t next = start;
  while (next < send_end) {
    const int64_t now = NowNs();
    while (next <= now && next < send_end) {
      const int64_t lag = now - next;
      max_lag_ns = std::max(max_lag_ns, lag);
      if (lag > 1000000) ++late_sends;
      c.Due(next);
      ++sent;
      next = start + static_cast<int64_t>(sent * interval_ns);
    }
    c.Step(std::min(next, send_end));
  }
  const int64_t drain_end = NowNs() + absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_drain));
  while (c.outstanding() > 0 && NowNs() < drain_end) c.Step(drain_end);
  const double seconds = (send_end - start) / 1e9;

  Stats& s = c.stats();
  std::sort(s.latencies_us.begin(), s.latencies_us.end());
  const double p50 = Percentile(s.latencies_us, 0.50);
  const double p90 = Percentile(s.latencies_us, 0.90);
  const double p99 = Percentile(s.latencies_us, 0.99);
  const double max = s.latencies_us.empty() ? 0 : s.latencies_us.back();
  const int64_t unanswered = c.outstanding();
  if (absl::GetFlag(FLAGS_json)) {
    std::printf(
        "{\"rate\":%.1f,\"sent\":%lld,\"ok\":%lld,\"errors\":%lld,\"unanswered\":%lld,"
        "\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
        "\"max_us\":%.1f,\"max_send_lag_us\":%.1f,\"late_sends\":%lld,\"first_error\":\"%s\"}\n",
        rate, static_cast<long long>(sent), static_cast<long long>(s.ok),
        static_cast<long long>(s.errors), static_cast<long long>(unanswered), seconds,
        s.ok / seconds, p50, p90, p99, max, max_lag_ns / 1e3, static_cast<long long>(late_sends),
        s.first_error.c_str());
  } else {
    std::printf("%lld requests at %.0f/s over %.1f s: ok %lld, errors %lld, unanswered %lld\n",
                static_cast<long long>(sent), rate, seconds, static_cast<long long>(s.ok),
                static_cast<long long>(s.errors), static_cast<long long>(unanswered));
    std::printf("latency us (from intended send): p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n", p50,
                p90, p99, max);
    std::printf("client lag: max %.0f us, %lld requests noticed over 1 ms late\n",
                max_lag_ns / 1e3, static_cast<long long>(late_sends));
    if (!s.first_error.empty()) std::printf("first error: %s\n", s.first_error.c_str());
  }
  std::fflush(stdout);
  std::_Exit(s.errors == 0 && unanswered == 0 ? 0 : 1);
}
