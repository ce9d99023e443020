#ifndef FETCHPOOL_ENGINE_CURL_MULTI_H_
#define FETCHPOOL_ENGINE_CURL_MULTI_H_

#include <curl/curl.h>
#include <sys/epoll.h>

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "engine/event_loop.h"

namespace fetchpool {

// What a socket is watched for when reading, by curl during a transfer and
// by the pool while the connection is idle: the same set, so handing the
// socket from one watcher to the other needs no epoll_ctl. RDHUP only
// matters idle (the origin closing a pooled connection).
inline constexpr uint32_t kCurlReadEvents = EPOLLIN | EPOLLRDHUP;

// A transfer running in the CurlMulti (one easy handle: a CurlStream). It
// hears that it ended; the readiness events of its socket go to the
// connection it runs on (socket_handler), which hands them back to
// CurlMulti::SocketAction. An HTTP/2 connection's socket carries several
// transfers, so the socket's handler is the connection's, not one
// transfer's, and it stays the same while the socket sits idle.
class CurlTransfer {
 public:
  // CURLMSG_DONE with `code`. The easy handle is still in the multi.
  virtual void OnTransferDone(CURLcode code) = 0;
  virtual FdHandler* socket_handler() = 0;

 protected:
  ~CurlTransfer() = default;
};

// The engine's one curl multi handle, driven by the event loop through
// curl's multi_socket API (a socket callback and one timer, as in curl's
// ephiperfifo.c). Every connection's easy handle runs its transfers here.
// Which connection a transfer uses is still the pool's choice: each easy
// handle keeps its connection in a connection cache of its own (a CURLSH
// sharing only CURL_LOCK_DATA_CONNECT), capped at one by MAXCONNECTS. One
// multi rather than one per connection saves libcurl's socket hash (29 KB)
// per connection and runs every due transfer in one timer call. DNS
// results are cached in the multi, for all connections. Loop thread only.
class CurlMulti final : public FdHandler {
 public:
  explicit CurlMulti(EventLoop& loop);
  ~CurlMulti() override;
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // `transfer` receives the events of `easy`'s sockets and its end; the
  // pairing lasts until Forget (one per connection, not per request).
  void Register(CURL* easy, CurlTransfer* transfer) { transfers_[easy] = transfer; }
  void Forget(CURL* easy);

  // curl_multi_add_handle. Called from inside a curl callback (the pool
  // hands out streams from MarkConnected, called in the prereq callback),
  // where curl refuses it (CURLM_RECURSIVE_API_CALL), the add waits until
  // curl returns; a deferred add that curl then refuses ends the transfer
  // with CURLE_FAILED_INIT.
  absl::Status Add(CURL* easy);
  void Remove(CURL* easy);  // curl_multi_remove_handle (or drops a deferred add)
  // Runs `fn` now, or once curl returns when called from inside a curl
  // callback: for pool transitions that may start transfers.
  void RunOutsideCurl(absl::AnyInvocable<void()> fn);

  // Tells curl that `fd` is ready (epoll events) and delivers the
  // transfers that ended, outside any curl callback, so their owners may
  // add, remove or destroy easy handles, this one included.
  void SocketAction(curl_socket_t fd, uint32_t epoll_events);

  // Every connection socket is opened and closed here (from the easy
  // handles' open- and close-socket callbacks), so the multi knows which
  // descriptors curl reports are connections' and which are curl's own.
  // OpenSocket: socket(2), -1 with errno set on failure. CloseSocket: stops
  // watching `fd`, then closes it.
  int OpenSocket(int family, int socktype, int protocol);
  int CloseSocket(int fd);

  // FdHandler: a curl socket of an easy handle that was not registered.
  void OnFdEvent(int fd, uint32_t epoll_events) override { SocketAction(fd, epoll_events); }

 private:
  static int OnSocket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static int OnTimer(CURLM* multi, long timeout_ms, void* userp);
  void Act(curl_socket_t fd, int ev_bitmask);
  // Runs what was deferred while inside curl (adds, then tasks).
  void RunDeferred();

  // Inside a curl_multi_* call (its callbacks run then).
  int in_curl_ = 0;
  std::vector<CURL*> deferred_adds_;
  std::vector<CURL*> failed_adds_;
  std::vector<absl::AnyInvocable<void()>> deferred_tasks_;

  EventLoop& loop_;
  CURLM* multi_ = nullptr;
  EventLoop::TimerId timer_ = 0;
  absl::flat_hash_map<CURL*, CurlTransfer*> transfers_;
  absl::flat_hash_set<int> connection_sockets_;  // open, from OpenSocket
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_CURL_MULTI_H_
