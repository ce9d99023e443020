// curl_conn_cost: what libcurl alone costs per pooled connection, so
// bench/scale_e2e/run.sh can say how much of fetchpoold's memory per idle
// connection is curl's. Two ways of holding a connection (--layout):
//
//   shared_multi (the default, what fetchpool does now: engine/curl_multi.h,
//     engine/curl_connection.cc): ONE multi handle for every connection
//     (MAXCONNECTS 1, DNS cached in it), and per connection one easy handle
//     with a CURLSH of its own sharing only CURL_LOCK_DATA_CONNECT: a
//     private connection cache, so the connection curl reuses is exactly
//     that easy's. The multi is a fixed cost, created (and warmed up by one
//     throwaway transfer, which allocates its socket hash and DNS entry)
//     before the per-connection heap is read.
//   multi_per_connection (what fetchpool did before): per connection a multi
//     handle of its own (MAXCONNECTS 1) and one easy handle; one CURLSH
//     sharing DNS and TLS sessions for all of them (a fixed cost).
//
// Every transfer is driven like fetchpool drives it, through
// curl_multi_socket_action with socket and timer callbacks, one transfer at
// a time. Each easy handle does two GETs: the first must open a connection
// (CURLINFO_NUM_CONNECTS 1), the second must reuse it (0).
//
//   curl_conn_cost --url=http://127.0.0.1:P/ --connections=1000 [--layout=...]
//
// Prints one JSON object on one line. Per connection (KiB): multi_kib (the
// multi handle: 0 for shared_multi), share_kib (the connection cache: 0 for
// multi_per_connection), easy_kib, after_transfer_kib (the first GET:
// connection, its cache entry, and for multi_per_connection the multi's
// socket hash), total_kib (their sum, i.e. one idle connection),
// second_round_kib (growth over the second GET, ~0); fds_per_multi and
// fds_per_connection (after the first GET). fixed_kib: the fixed part in
// total (the shared multi or the shared DNS/TLS CURLSH, after the warm-up).
// Counts: ok and new_first_round (first GETs that succeeded / opened a
// connection), ok_second_round and reused_second_round. Exits 1 unless every
// count equals --connections.
//
// Heap bytes are glibc mallinfo2's in-use bytes (all arenas); each step is
// measured over --connections handles and divided by their number.
#include <curl/curl.h>
#include <malloc.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"

ABSL_FLAG(std::string, url, "", "a keep-alive HTTP/1.1 URL to fetch twice per connection");
ABSL_FLAG(int, connections, 1000, "connections to hold at once");
ABSL_FLAG(std::string, layout, "shared_multi",
          "shared_multi (fetchpool now: one multi handle, a connection cache of its own per "
          "easy handle) or multi_per_connection (fetchpool before: a multi handle per "
          "connection, one DNS/TLS-session CURLSH for all)");

namespace {

size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

long FdCount() {
  long n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// The sockets curl asked to watch (CURLMOPT_SOCKETFUNCTION), each with the
// easy handle it belongs to: on a shared multi the socket callback is how a
// socket is told apart from another transfer's. Reserved before the heap is
// first read, so tracking allocates nothing that is measured.
struct Sockets {
  struct Watch {
    CURL* easy;
    curl_socket_t fd;
    short events;
  };
  std::vector<Watch> watches;
  CURL* current = nullptr;  // the easy handle being transferred
  long foreign = 0;         // callbacks about any other easy handle
};

// A multi handle's timer (CURLMOPT_TIMERFUNCTION): one per multi handle.
struct Timer {
  long timeout_ms = -1;
};

int OnSocket(CURL* easy, curl_socket_t fd, int what, void* sockets_ptr, void*) {
  auto* sockets = static_cast<Sockets*>(sockets_ptr);
  if (easy != sockets->current) ++sockets->foreign;
  auto& w = sockets->watches;
  auto it = std::find_if(w.begin(), w.end(), [&](const Sockets::Watch& x) { return x.easy == easy && x.fd == fd; });
  if (what == CURL_POLL_REMOVE) {
    if (it == w.end()) it = std::find_if(w.begin(), w.end(), [&](const Sockets::Watch& x) { return x.fd == fd; });
    if (it != w.end()) w.erase(it);
    return 0;
  }
  const auto events = static_cast<short>(((what & CURL_POLL_IN) ? POLLIN : 0) |
                                         ((what & CURL_POLL_OUT) ? POLLOUT : 0));
  if (it == w.end()) {
    w.push_back({easy, fd, events});
  } else {
    it->events = events;
  }
  return 0;
}

int OnTimer(CURLM*, long timeout_ms, void* timer_ptr) {
  static_cast<Timer*>(timer_ptr)->timeout_ms = timeout_ms;
  return 0;
}

CURLM* NewMulti(Timer* timer, Sockets* sockets) {
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 1L);
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &OnSocket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, sockets);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &OnTimer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, timer);
  return multi;
}

// A connection cache of one's own (engine/curl_connection.cc).
CURLSH* NewConnectionCache() {
  CURLSH* share = curl_share_init();
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  return share;
}

CURL* NewEasy(CURLSH* share, const std::string& url) {
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_SHARE, share);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  return e;
}

struct Outcome {
  bool ok = false;
  long connects = -1;  // CURLINFO_NUM_CONNECTS: 0 when the connection was reused
};

// One GET on `easy` through `multi`, driven like fetchpool drives it:
// curl_multi_socket_action (the API that fills the multi's socket hash),
// polling the sockets the socket callback gave for this easy handle. The
// connection stays cached afterwards (in the multi, or in the easy's own
// connection cache).
Outcome TransferOnce(CURLM* multi, const Timer& timer, Sockets& sockets, CURL* easy) {
  Outcome out;
  sockets.current = easy;
  if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
    sockets.current = nullptr;
    return out;
  }
  int running = 1;
  std::array<struct pollfd, 8> p{};
  while (running > 0) {
    nfds_t n = 0;
    for (const auto& w : sockets.watches) {
      if (w.easy == easy && n < p.size()) p[n++] = {w.fd, w.events, 0};
    }
    const int wait_ms = timer.timeout_ms >= 0 ? static_cast<int>(timer.timeout_ms) : n > 0 ? 1000 : 0;
    const int ready = poll(p.data(), n, wait_ms);
    if (ready <= 0) {
      curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
      continue;
    }
    for (nfds_t i = 0; i < n && running > 0; ++i) {
      if (p[i].revents == 0) continue;
      const int mask = ((p[i].revents & POLLIN) ? CURL_CSELECT_IN : 0) |
                       ((p[i].revents & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                       ((p[i].revents & (POLLERR | POLLHUP | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(multi, p[i].fd, mask, &running);
    }
  }
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) out.ok = msg->data.result == CURLE_OK;
  }
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &out.connects);
  curl_multi_remove_handle(multi, easy);
  sockets.current = nullptr;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = std::max(0, absl::GetFlag(FLAGS_connections));
  const std::string url = absl::GetFlag(FLAGS_url);
  const std::string layout = absl::GetFlag(FLAGS_layout);
  if (layout != "shared_multi" && layout != "multi_per_connection") {
    std::fprintf(stderr, "--layout must be shared_multi or multi_per_connection, not '%s'\n", layout.c_str());
    return 2;
  }
  const bool shared = layout == "shared_multi";
  curl_global_init(CURL_GLOBAL_ALL);

  Sockets sockets;
  sockets.watches.reserve(16);
  std::vector<Timer> timers(shared ? 1 : n);
  std::vector<CURLM*> multis(shared ? 1 : n, nullptr);
  // shared_multi: a connection cache per connection; multi_per_connection:
  // the one DNS/TLS-session share.
  std::vector<CURLSH*> shares(shared ? n : 1, nullptr);
  std::vector<CURL*> easies(n, nullptr);
  std::vector<Outcome> first(n), second(n);

  // The fixed part, warmed up by one throwaway transfer so that first-use
  // allocations of shared state are not charged to the connections.
  FdCount();  // its own first-use allocations, before anything is measured
  const size_t heap_start = HeapInUse();
  if (shared) {
    multis[0] = NewMulti(&timers[0], &sockets);
    if (!url.empty()) {
      CURLSH* cache = NewConnectionCache();
      CURL* e = NewEasy(cache, url);
      TransferOnce(multis[0], timers[0], sockets, e);
      curl_easy_cleanup(e);
      curl_share_cleanup(cache);
    }
  } else {
    shares[0] = curl_share_init();
    curl_share_setopt(shares[0], CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(shares[0], CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (!url.empty()) {
      Timer timer;
      CURLM* m = NewMulti(&timer, &sockets);
      CURL* e = NewEasy(shares[0], url);
      TransferOnce(m, timer, sockets, e);
      curl_easy_cleanup(e);
      curl_multi_cleanup(m);
    }
  }
  sockets.foreign = 0;

  const size_t heap0 = HeapInUse();
  const long fds0 = FdCount();
  if (!shared) {
    for (int i = 0; i < n; ++i) multis[i] = NewMulti(&timers[i], &sockets);
  }
  const size_t heap_multi = HeapInUse();
  const long fds_multi = FdCount();
  if (shared) {
    for (auto& s : shares) s = NewConnectionCache();
  }
  const size_t heap_share = HeapInUse();
  for (int i = 0; i < n; ++i) easies[i] = NewEasy(shares[shared ? i : 0], url);
  const size_t heap_easy = HeapInUse();
  auto multi_of = [&](int i) { return shared ? 0 : i; };
  for (int i = 0; i < n && !url.empty(); ++i) {
    first[i] = TransferOnce(multis[multi_of(i)], timers[multi_of(i)], sockets, easies[i]);
  }
  const size_t heap_conn = HeapInUse();
  const long fds_conn = FdCount();
  for (int i = 0; i < n && !url.empty(); ++i) {
    second[i] = TransferOnce(multis[multi_of(i)], timers[multi_of(i)], sockets, easies[i]);
  }
  const size_t heap_second = HeapInUse();
  const long fds_second = FdCount();

  int ok = 0, opened = 0, ok2 = 0, reused = 0;
  for (int i = 0; i < n; ++i) {
    ok += first[i].ok;
    opened += first[i].connects == 1;
    ok2 += second[i].ok;
    reused += second[i].connects == 0;
  }
  const double per = 1024.0 * std::max(1, n);
  // Rounded to the 0.1 printed, so a few bytes freed print as 0.0, not -0.0.
  auto kib = [per](size_t from, size_t to) {
    return std::round((static_cast<double>(to) - static_cast<double>(from)) / per * 10) / 10 + 0.0;
  };
  auto fds = [n](long from, long to) { return static_cast<double>(to - from) / std::max(1, n); };
  std::printf(
      "{\"layout\":\"%s\",\"connections\":%d,\"ok\":%d,\"new_first_round\":%d,\"ok_second_round\":%d,"
      "\"reused_second_round\":%d,\"fixed_kib\":%.1f,\"multi_kib\":%.1f,\"share_kib\":%.1f,"
      "\"easy_kib\":%.1f,\"after_transfer_kib\":%.1f,\"total_kib\":%.1f,\"second_round_kib\":%.1f,"
      "\"fds_per_multi\":%.2f,\"fds_per_connection\":%.2f}\n",
      layout.c_str(), n, ok, opened, ok2, reused, (static_cast<double>(heap0) - heap_start) / 1024.0,
      kib(heap0, heap_multi), kib(heap_multi, heap_share), kib(heap_share, heap_easy),
      kib(heap_easy, heap_conn), kib(heap0, heap_conn), kib(heap_conn, heap_second),
      fds(fds0, fds_multi), fds(fds0, fds_conn));
  std::fflush(stdout);
  if (sockets.foreign != 0) {
    std::fprintf(stderr, "%ld socket callbacks about an easy handle other than the one transferring\n",
                 sockets.foreign);
  }
  if (fds_second != fds_conn) {
    std::fprintf(stderr, "fds changed over the second round: %ld -> %ld\n", fds_conn, fds_second);
  }

  for (int i = 0; i < n; ++i) curl_easy_cleanup(easies[i]);
  // The connections close with their cache: the shares for shared_multi,
  // the multi handles for multi_per_connection.
  if (shared) for (CURLSH* s : shares) curl_share_cleanup(s);
  for (CURLM* m : multis) curl_multi_cleanup(m);
  if (!shared) curl_share_cleanup(shares[0]);
  curl_global_cleanup();
  const bool all = ok == n && opened == n && ok2 == n && reused == n;
  return all && sockets.foreign == 0 && fds_second == fds_conn ? 0 : 1;
}
