// curl_conn_cost: what libcurl alone costs per pooled connection, the way
// fetchpool holds one (engine/curl_connection.cc: a multi handle of its own
// with MAXCONNECTS 1, one easy handle, a shared DNS/TLS-session cache), so
// bench/scale_e2e/run.sh can say how much of fetchpoold's memory per idle
// connection is curl's. Prints one JSON object:
//
//   curl_conn_cost --url=http://127.0.0.1:P/ --connections=1000
//
// Heap bytes are glibc mallinfo2's in-use bytes (all arenas); each step is
// measured over --connections handles and divided by their number.
#include <curl/curl.h>
#include <malloc.h>
#include <poll.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"

ABSL_FLAG(std::string, url, "", "a keep-alive HTTP/1.1 URL to fetch once per connection");
ABSL_FLAG(int, connections, 1000, "connections to hold at once");

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

// What curl asked to watch, through CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION.
struct Watch {
  curl_socket_t fd = CURL_SOCKET_BAD;
  short events = 0;
  long timeout_ms = -1;
};

int OnSocket(CURL*, curl_socket_t fd, int what, void* watch_ptr, void*) {
  auto* watch = static_cast<Watch*>(watch_ptr);
  watch->fd = what == CURL_POLL_REMOVE ? CURL_SOCKET_BAD : fd;
  watch->events = static_cast<short>(((what & CURL_POLL_IN) ? POLLIN : 0) |
                                     ((what & CURL_POLL_OUT) ? POLLOUT : 0));
  return 0;
}

int OnTimer(CURLM*, long timeout_ms, void* watch_ptr) {
  static_cast<Watch*>(watch_ptr)->timeout_ms = timeout_ms;
  return 0;
}

// One GET on `easy` through its own `multi`, driven like fetchpool drives
// it: curl_multi_socket_action (the API that fills the multi's socket hash).
// The connection stays cached in the multi afterwards.
bool TransferOnce(CURLM* multi, CURL* easy) {
  Watch watch;
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &OnSocket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, &watch);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &OnTimer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, &watch);
  curl_multi_add_handle(multi, easy);
  int running = 1;
  while (running > 0) {
    struct pollfd p = {watch.fd, watch.events, 0};
    const int ready = watch.fd == CURL_SOCKET_BAD
                          ? 0
                          : poll(&p, 1, watch.timeout_ms < 0 ? 1000 : static_cast<int>(watch.timeout_ms));
    if (ready > 0) {
      const int mask = ((p.revents & POLLIN) ? CURL_CSELECT_IN : 0) |
                       ((p.revents & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                       ((p.revents & (POLLERR | POLLHUP)) ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(multi, watch.fd, mask, &running);
    } else {
      curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
  }
  int left = 0;
  CURLMsg* msg = curl_multi_info_read(multi, &left);
  const bool ok = msg != nullptr && msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK;
  curl_multi_remove_handle(multi, easy);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_connections);
  const std::string url = absl::GetFlag(FLAGS_url);
  curl_global_init(CURL_GLOBAL_ALL);
  CURLSH* share = curl_share_init();
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  std::vector<CURLM*> multis(n);
  std::vector<CURL*> easies(n);

  const size_t heap0 = HeapInUse();
  const long fds0 = FdCount();
  for (auto& m : multis) {
    m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, 1L);
  }
  const size_t heap_multi = HeapInUse();
  const long fds_multi = FdCount();
  for (auto& e : easies) {
    e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Discard);
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  }
  const size_t heap_easy = HeapInUse();
  int ok = 0;
  for (int i = 0; i < n && !url.empty(); ++i) ok += TransferOnce(multis[i], easies[i]);
  const size_t heap_conn = HeapInUse();
  const long fds_conn = FdCount();
  const double per = 1024.0 * std::max(1, n);
  std::printf(
      "{\"connections\":%d,\"ok\":%d,\"multi_kib\":%.1f,\"easy_kib\":%.1f,"
      "\"after_transfer_kib\":%.1f,\"total_kib\":%.1f,\"fds_per_multi\":%.2f,"
      "\"fds_per_connection\":%.2f}\n",
      n, ok, (heap_multi - heap0) / per, (heap_easy - heap_multi) / per,
      (heap_conn - heap_easy) / per, (heap_conn - heap0) / per,
      static_cast<double>(fds_multi - fds0) / std::max(1, n),
      static_cast<double>(fds_conn - fds0) / std::max(1, n));
  for (int i = 0; i < n; ++i) {
    curl_easy_cleanup(easies[i]);
    curl_multi_cleanup(multis[i]);
  }
  curl_share_cleanup(share);
  curl_global_cleanup();
  return ok == n ? 0 : 1;
}
