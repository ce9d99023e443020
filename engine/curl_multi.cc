#include "engine/curl_multi.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace fetchpool {

CurlMulti::CurlMulti(EventLoop& loop) : loop_(loop) {
  multi_ = curl_multi_init();
  if (multi_ == nullptr) {
    std::fprintf(stderr, "curl_multi_init failed\n");
    std::abort();
  }
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::OnSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::OnTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  // libcurl compares this with the size of the transfer's own connection
  // cache, which is the connection's private one: at most one connection
  // each, the one the pool counts.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 1L);
  // HTTP/2: streams of one connection's easy handles share its socket
  // (the handles share the connection's CURLSH). curl's own cap on the
  // streams of one connection stays at its default, 100
  // (CURLMOPT_MAX_CONCURRENT_STREAMS; CurlConnection::kCurlMaxStreams).
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
}

CurlMulti::~CurlMulti() {
  if (timer_ != 0) loop_.CancelTimer(timer_);
  curl_multi_cleanup(multi_);
}

absl::Status CurlMulti::Add(CURL* easy) {
  if (in_curl_ > 0) {
    deferred_adds_.push_back(easy);
    return absl::OkStatus();
  }
  ++in_curl_;
  const CURLMcode rc = curl_multi_add_handle(multi_, easy);
  --in_curl_;
  RunDeferred();
  if (rc != CURLM_OK) {
    return absl::InternalError(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
  }
  return absl::OkStatus();
}

void CurlMulti::Remove(CURL* easy) {
  for (auto it = deferred_adds_.begin(); it != deferred_adds_.end(); ++it) {
    if (*it == easy) {
      deferred_adds_.erase(it);
      return;
    }
  }
  ++in_curl_;
  curl_multi_remove_handle(multi_, easy);
  --in_curl_;
  RunDeferred();
}

void CurlMulti::Forget(CURL* easy) {
  transfers_.erase(easy);
  for (std::vector<CURL*>* list : {&deferred_adds_, &failed_adds_}) {
    for (auto it = list->begin(); it != list->end();) {
      it = *it == easy ? list->erase(it) : it + 1;
    }
  }
}

void CurlMulti::RunOutsideCurl(absl::AnyInvocable<void()> fn) {
  if (in_curl_ > 0) {
    deferred_tasks_.push_back(std::move(fn));
    return;
  }
  fn();
}

void CurlMulti::RunDeferred() {
  if (in_curl_ > 0) return;
  while (!deferred_adds_.empty() || !deferred_tasks_.empty()) {
    std::vector<CURL*> adds;
    adds.swap(deferred_adds_);
    for (CURL* easy : adds) {
      ++in_curl_;
      const CURLMcode rc = curl_multi_add_handle(multi_, easy);
      --in_curl_;
      if (rc != CURLM_OK) failed_adds_.push_back(easy);
    }
    std::vector<absl::AnyInvocable<void()>> tasks;
    tasks.swap(deferred_tasks_);
    for (auto& task : tasks) task();
  }
  // A deferred add curl refused: its transfer ends (never sent).
  while (!failed_adds_.empty()) {
    CURL* easy = failed_adds_.back();
    failed_adds_.pop_back();
    auto it = transfers_.find(easy);
    if (it != transfers_.end()) it->second->OnTransferDone(CURLE_FAILED_INIT);
  }
}

void CurlMulti::SocketAction(curl_socket_t fd, uint32_t epoll_events) {
  int mask = 0;
  if (epoll_events & EPOLLIN) mask |= CURL_CSELECT_IN;
  if (epoll_events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
  if (epoll_events & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
  Act(fd, mask);
}

void CurlMulti::Act(curl_socket_t fd, int ev_bitmask) {
  int running = 0;
  ++in_curl_;
  curl_multi_socket_action(multi_, fd, ev_bitmask, &running);
  --in_curl_;
  RunDeferred();
  // curl_multi_info_read pops each message; a handle removed by an earlier
  // owner's reaction takes its own message (if any) with it.
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    const CURLcode code = msg->data.result;
    auto it = transfers_.find(msg->easy_handle);
    if (it != transfers_.end()) it->second->OnTransferDone(code);
  }
}

int CurlMulti::OpenSocket(int family, int socktype, int protocol) {
  const int fd = socket(family, socktype | SOCK_CLOEXEC, protocol);
  if (fd >= 0) connection_sockets_.insert(fd);
  return fd;
}

int CurlMulti::CloseSocket(int fd) {
  loop_.UnwatchFd(fd);
  connection_sockets_.erase(fd);
  return close(fd);
}

int CurlMulti::OnSocket(CURL* easy, curl_socket_t s, int what, void* userp, void*) {
  auto* self = static_cast<CurlMulti*>(userp);
  if (what == CURL_POLL_REMOVE) {
    if (self->connection_sockets_.contains(s)) {
      // A connection's socket usually stays open (back to the pool's idle
      // watch, in this same iteration); closing it goes through
      // CloseSocket, which unwatches it at once.
      self->loop_.UnwatchFdSoon(s);
    } else {
      // One of curl's own descriptors (the threaded resolver's
      // socketpair), which curl closes before it says REMOVE: no syscall,
      // since the number may already be another loop's new socket.
      self->loop_.ForgetFd(s);
    }
    return 0;
  }
  // The connection's own handler, so the registration it made while idle
  // is kept (EventLoop::WatchFd with the same handler and events).
  auto it = self->transfers_.find(easy);
  FdHandler* handler = it != self->transfers_.end() ? it->second->socket_handler() : self;
  uint32_t events = 0;
  if (what & CURL_POLL_IN) events |= kCurlReadEvents;
  if (what & CURL_POLL_OUT) events |= EPOLLOUT;
  self->loop_.WatchFd(s, events, handler);
  return 0;
}

int CurlMulti::OnTimer(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<CurlMulti*>(userp);
  if (self->timer_ != 0) {
    self->loop_.CancelTimer(self->timer_);
    self->timer_ = 0;
  }
  if (timeout_ms < 0) return 0;
  // curl forbids calling socket_action from inside this callback: the timer
  // fires from the loop instead (a zero delay within this iteration).
  self->timer_ = self->loop_.AddTimer(self->loop_.clock().Now() + absl::Milliseconds(timeout_ms),
                                      [self] {
                                        self->timer_ = 0;
                                        self->Act(CURL_SOCKET_TIMEOUT, 0);
                                      });
  return 0;
}

}  // namespace fetchpool
