#include "engine/curl_connection.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engine/curl_setopt.h"

namespace fetchpool {
namespace {

// curl's own idle-age limit (118 s by default) would silently drop
// connections the pool still counts as idle; the pool's idle timer is the
// only one that should close idle connections.
constexpr long kCurlMaxAgeSeconds = 2 * 24 * 3600;

// A socket whose close leaves TIME_WAIT here is one that is established
// with nothing pending: no FIN from the origin (recv would return 0), no
// unread bytes (close would send RST instead of FIN), no error.
bool CloseLeavesTimeWait(int fd) {
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

CurlConnection::CurlConnection(CurlConnectionOwner& owner, Slot& slot)
    : owner_(owner), slot_(slot), https_(absl::StartsWith(slot.pool().key(), "https://")) {
  connection_cache_ = curl_share_init();
  easy_ = curl_easy_init();
  if (connection_cache_ == nullptr || easy_ == nullptr ||
      curl_share_setopt(connection_cache_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK) {
    std::fprintf(stderr, "curl handle allocation failed\n");
    std::abort();
  }
  SetConstantOptions();
  owner_.multi().Register(easy_, this);
}

CurlConnection::~CurlConnection() { Close(); }

void CurlConnection::SetConstantOptions() {
  // Only this handle uses the share, so it needs no lock callbacks.
  SetCurlOpt(easy_, CURLOPT_SHARE, connection_cache_);
  SetCurlOpt(easy_, CURLOPT_NOSIGNAL, 1L);
  SetCurlOpt(easy_, CURLOPT_ERRORBUFFER, error_buffer_);
  SetCurlOpt(easy_, CURLOPT_OPENSOCKETFUNCTION, &CurlConnection::OnOpenSocket);
  SetCurlOpt(easy_, CURLOPT_OPENSOCKETDATA, this);
  SetCurlOpt(easy_, CURLOPT_CLOSESOCKETFUNCTION, &CurlConnection::OnCloseSocket);
  SetCurlOpt(easy_, CURLOPT_CLOSESOCKETDATA, this);
  SetCurlOpt(easy_, CURLOPT_PREREQFUNCTION, &CurlConnection::OnPrereq);
  SetCurlOpt(easy_, CURLOPT_PREREQDATA, this);
  SetCurlOpt(easy_, CURLOPT_RESOLVER_START_FUNCTION, &CurlConnection::OnResolverStart);
  SetCurlOpt(easy_, CURLOPT_RESOLVER_START_DATA, this);
  SetCurlOpt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
  SetCurlOpt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");  // belt and braces: curl never follows
  SetConstantTlsOptions(easy_, &tls_target_);
  SetCurlOpt(easy_, CURLOPT_FOLLOWLOCATION, 0L);  // the engine follows, pool by pool
  // Never a proxy from the environment (HTTP_PROXY...): the destination
  // policy must see the origin's address, and the pool is per origin.
  // (This also spares curl five getenv calls per request.)
  SetCurlOpt(easy_, CURLOPT_PROXY, "");
  SetCurlOpt(easy_, CURLOPT_MAXAGE_CONN, kCurlMaxAgeSeconds);
  SetCurlOpt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
  // CURLOPT_HTTP_VERSION is set per transfer (ConfigureHttpVersion). An
  // HTTP/2 connection still carries one request at a time: the slot's
  // share holds its one connection and only this handle uses it.
  // Debugging aid: curl's own trace of every transfer on stderr.
  static const bool verbose = std::getenv("FETCHPOOL_CURL_VERBOSE") != nullptr;
  if (verbose) SetCurlOpt(easy_, CURLOPT_VERBOSE, 1L);
}

void CurlConnection::PrepareTransfer(absl::Duration connect_timeout) {
  sockets_opened_this_transfer_ = 0;
  request_started_ = false;
  reconnect_refused_ = false;
  policy_denial_.clear();
  socket_errno_ = 0;
  error_buffer_[0] = '\0';
  SetCurlOpt(easy_, CURLOPT_CONNECTTIMEOUT_MS,
         static_cast<long>(absl::ToInt64Milliseconds(connect_timeout)));
  // Back to a plain GET: setting POSTFIELDS switches curl to POST, so the
  // body is cleared first and HTTPGET comes last.
  SetCurlOpt(easy_, CURLOPT_POSTFIELDS, static_cast<const char*>(nullptr));
  SetCurlOpt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(-1));
  SetCurlOpt(easy_, CURLOPT_CUSTOMREQUEST, static_cast<const char*>(nullptr));
  SetCurlOpt(easy_, CURLOPT_NOBODY, 0L);
  SetCurlOpt(easy_, CURLOPT_HTTPGET, 1L);
}

void CurlConnection::ConfigureTls(const FetchConfig& config) {
  SetTransferTlsOptions(easy_, config, owner_.tls(), slot_.pool().key(), &tls_target_);
}

void CurlConnection::ConfigureHttpVersion(HttpVersion version) {
  http_version_ = version;
  long curl_version = CURL_HTTP_VERSION_1_1;
  if (version != HttpVersion::kHttp11) {
    if (https_) {
      curl_version = CURL_HTTP_VERSION_2TLS;  // ALPN: h2, then http/1.1
    } else if (version == HttpVersion::kH2c) {
      // Prior knowledge only for the request that opens the connection:
      // libcurl 7.88.1 fails a request sent with PRIOR_KNOWLEDGE on a
      // reused h2c connection ("Error in the HTTP2 framing layer"; fixed in
      // 8.0.0 by curl PR #10643). CURL_HTTP_VERSION_2_0 reuses it cleanly.
      curl_version = fd_ == CURL_SOCKET_BAD ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                            : CURL_HTTP_VERSION_2_0;
    }
  }
  SetCurlOpt(easy_, CURLOPT_HTTP_VERSION, curl_version);
}

absl::Status CurlConnection::StartTransfer() {
  absl::Status added = owner_.multi().Add(easy_);
  if (added.ok()) in_multi_ = true;
  return added;
}

void CurlConnection::FinishTransfer() {
  if (!in_multi_) return;
  in_multi_ = false;
  owner_.multi().Remove(easy_);
}

bool CurlConnection::LooksAlive() { return fd_ != CURL_SOCKET_BAD && CloseLeavesTimeWait(fd_); }

void CurlConnection::SetIdle(bool idle) {
  if (idle == idle_) return;
  idle_ = idle;
  if (fd_ == CURL_SOCKET_BAD) return;
  if (idle) {
    // While idle, curl is not watching the socket; we do, so an origin that
    // closes its end is noticed now, not when a request is written into it.
    owner_.loop().WatchFd(fd_, kCurlReadEvents, this);
  } else {
    // curl takes the socket over and re-watches it (kCurlReadEvents, with
    // this connection as the handler: CurlMulti::OnSocket) in
    // this same iteration, so the registration usually stays as it is.
    owner_.loop().UnwatchFdSoon(fd_);
  }
}

bool CurlConnection::Close() {
  if (closed_) return last_close_was_local_;
  closed_ = true;
  SetIdle(false);
  FinishTransfer();
  owner_.multi().Forget(easy_);
  curl_easy_cleanup(easy_);
  easy_ = nullptr;
  // Closes the cached connection through OnCloseSocket, which records
  // whether we closed first.
  curl_share_cleanup(connection_cache_);
  connection_cache_ = nullptr;
  return last_close_was_local_;
}

void CurlConnection::OnFdEvent(int fd, uint32_t epoll_events) {
  if (idle_) {
    // An event fetched while curl had the socket can arrive after its
    // transfer ended: curl runs every due transfer in whichever
    // socket_action comes first, so another socket's event may have
    // finished this one. Only a FIN, an error or bytes actually waiting
    // mean the origin is done with the connection.
    const bool hangup = (epoll_events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    if (!hangup && LooksAlive()) return;
    owner_.OnIdleConnectionLost(*this);  // may destroy this connection
    return;
  }
  owner_.multi().SocketAction(fd, epoll_events);
}

void CurlConnection::OnTransferDone(CURLcode code) {
  // The owner may release the slot, which can destroy this connection or
  // start the next transfer on it: nothing of ours is touched after.
  owner_.OnTransferDone(*this, code);
}

curl_socket_t CurlConnection::OnOpenSocket(void* clientp, curlsocktype purpose,
                                           curl_sockaddr* address) {
  auto* self = static_cast<CurlConnection*>(clientp);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  // libcurl replays a request that died on a reused connection before any
  // response byte on a new connection of its own (Curl_retry_request:
  // "Connection died, retrying a fresh connect"), whatever the method, a
  // plain POST included. Replaying is the engine's decision (never a plain
  // POST, once, counted), so no second connection once the request went out.
  if (self->request_started_) {
    self->reconnect_refused_ = true;
    return CURL_SOCKET_BAD;
  }
  // The policy sees the address actually connected to, after DNS: a name
  // that resolves to a metadata or loopback address is refused here.
  const sockaddr* addr = &address->addr;
  if (self->owner_.self_addresses().Contains(addr)) {
    self->policy_denial_ = self->owner_.self_addresses().Explain(addr);
    return CURL_SOCKET_BAD;
  }
  if (self->profile_ == nullptr) {
    self->policy_denial_ = "no egress profile was given for this transfer";
    return CURL_SOCKET_BAD;
  }
  if (!self->profile_->AllowsAddress(addr)) {
    self->policy_denial_ = self->profile_->Explain(addr);
    return CURL_SOCKET_BAD;
  }
  const int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd < 0) {
    self->socket_errno_ = errno;  // EMFILE: out of descriptors, not refused by the origin
    return CURL_SOCKET_BAD;
  }
  ++self->sockets_opened_this_transfer_;
  self->open_fds_.push_back(fd);
  self->fd_ = fd;
  return fd;
}

bool CurlConnection::remote_address(sockaddr_storage* out) const {
  if (!has_remote_ || fd_ == CURL_SOCKET_BAD) return false;
  *out = remote_;
  return true;
}

int CurlConnection::OnCloseSocket(void* clientp, curl_socket_t fd) {
  auto* self = static_cast<CurlConnection*>(clientp);
  self->last_close_was_local_ = CloseLeavesTimeWait(fd);
  self->owner_.loop().UnwatchFd(fd);
  auto& fds = self->open_fds_;
  fds.erase(std::remove(fds.begin(), fds.end(), fd), fds.end());
  if (fd == self->fd_) self->fd_ = fds.empty() ? CURL_SOCKET_BAD : fds.back();
  return close(fd);
}

int CurlConnection::OnResolverStart(void*, void*, void* clientp) {
  static_cast<CurlConnection*>(clientp)->slot_.pool().RecordDnsLookup();
  return 0;
}

int CurlConnection::OnPrereq(void* clientp, char*, char*, int, int) {
  auto* self = static_cast<CurlConnection*>(clientp);
  self->request_started_ = true;
  // Once connected, the socket in use is the connection's (a happy-eyeballs
  // loser may still be open for a moment).
  curl_socket_t active = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(self->easy_, CURLINFO_ACTIVESOCKET, &active) == CURLE_OK &&
      active != CURL_SOCKET_BAD) {
    self->fd_ = active;
  }
  // Where this connection goes, for the lease-time check of a later fetch
  // under another profile (FetchRunner::OnLease).
  socklen_t len = sizeof(self->remote_);
  self->has_remote_ =
      self->fd_ != CURL_SOCKET_BAD &&
      getpeername(self->fd_, reinterpret_cast<sockaddr*>(&self->remote_), &len) == 0;
  if (self->sockets_opened_this_transfer_ > 0) {
    // A new connection: count its handshake, if it was TLS, and whether the
    // session the loop offered was taken.
    const TlsHandshake handshake = ExamineHandshake(self->easy_);
    if (handshake.happened) {
      self->slot_.pool().RecordTlsHandshake(handshake.resumed, handshake.took);
    }
    // TLS: what ALPN chose (no ALPN: HTTP/1.1); cleartext: the setting.
    absl::string_view protocol = "http/1.1";
    if (handshake.happened) {
      if (!handshake.alpn.empty()) protocol = handshake.alpn;
    } else if (self->http_version_ == HttpVersion::kH2c) {
      protocol = "h2c";
    }
    self->slot_.pool().RecordProtocol(protocol);
  }
  self->owner_.OnConnected(*self);
  return CURL_PREREQFUNC_OK;
}

}  // namespace fetchpool
