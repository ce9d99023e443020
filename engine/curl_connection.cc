#include "engine/curl_connection.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engine/curl_h2_signals.h"
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

// Debugging aid: curl's own trace of every transfer on stderr.
bool CurlVerboseFromEnvironment() {
  static const bool verbose = std::getenv("FETCHPOOL_CURL_VERBOSE") != nullptr;
  return verbose;
}

}  // namespace

// ---- CurlStream ----

CurlStream::CurlStream(CurlConnection& conn) : conn_(conn) {
  easy_ = curl_easy_init();
  if (easy_ == nullptr) {
    std::fprintf(stderr, "curl handle allocation failed\n");
    std::abort();
  }
  SetConstantOptions();
  conn_.owner_.multi().Register(easy_, this);
}

CurlStream::~CurlStream() {
  FinishTransfer();
  conn_.owner_.multi().Forget(easy_);
  curl_easy_cleanup(easy_);
}

Slot& CurlStream::slot() const { return conn_.slot(); }

bool CurlStream::refused_stream() const {
  if (refused_stream_) return true;
  return conn_.goaway_seen_ && stream_id_ > conn_.goaway_last_stream_;
}

FdHandler* CurlStream::socket_handler() { return &conn_; }

void CurlStream::SetConstantOptions() {
  // The connection's streams share its CURLSH from one thread: no lock
  // callbacks needed.
  SetCurlOpt(easy_, CURLOPT_SHARE, conn_.connection_cache_);
  SetCurlOpt(easy_, CURLOPT_NOSIGNAL, 1L);
  SetCurlOpt(easy_, CURLOPT_ERRORBUFFER, error_buffer_);
  SetCurlOpt(easy_, CURLOPT_OPENSOCKETFUNCTION, &CurlStream::OnOpenSocket);
  SetCurlOpt(easy_, CURLOPT_OPENSOCKETDATA, this);
  // curl closes a connection through the callback of the handle that
  // opened it, whichever stream that was: the connection's.
  SetCurlOpt(easy_, CURLOPT_CLOSESOCKETFUNCTION, &CurlConnection::OnCloseSocket);
  SetCurlOpt(easy_, CURLOPT_CLOSESOCKETDATA, &conn_);
  SetCurlOpt(easy_, CURLOPT_PREREQFUNCTION, &CurlStream::OnPrereq);
  SetCurlOpt(easy_, CURLOPT_PREREQDATA, this);
  SetCurlOpt(easy_, CURLOPT_RESOLVER_START_FUNCTION, &CurlStream::OnResolverStart);
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
  // CURLOPT_HTTP_VERSION, PIPEWAIT and the verbose text are set per
  // transfer (ConfigureHttpVersion).
  if (CurlVerboseFromEnvironment()) SetCurlOpt(easy_, CURLOPT_VERBOSE, 1L);
}

void CurlStream::PrepareTransfer(absl::Duration connect_timeout, bool shared) {
  shared_ = shared;
  sockets_opened_this_transfer_ = 0;
  request_started_ = false;
  reconnect_refused_ = false;
  refused_stream_ = false;
  own_connection_refused_ = false;
  stream_id_ = 0;
  connected_pending_ = false;
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

void CurlStream::ConfigureTls(const FetchConfig& config) {
  SetTransferTlsOptions(easy_, config, conn_.owner_.tls(), conn_.slot_.pool().key(),
                        &tls_target_);
}

void CurlStream::ConfigureHttpVersion(HttpVersion version) {
  conn_.http_version_ = version;
  long curl_version = CURL_HTTP_VERSION_1_1;
  if (version != HttpVersion::kHttp11) {
    if (conn_.https_) {
      curl_version = CURL_HTTP_VERSION_2TLS;  // ALPN: h2, then http/1.1
    } else if (version == HttpVersion::kH2c) {
      // Prior knowledge only for the request that opens the connection:
      // libcurl 7.88.1 fails a request sent with PRIOR_KNOWLEDGE on a
      // reused h2c connection ("Error in the HTTP2 framing layer"; fixed in
      // 8.0.0 by curl PR #10643). CURL_HTTP_VERSION_2_0 reuses it cleanly.
      curl_version = conn_.fd_ == CURL_SOCKET_BAD ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                                  : CURL_HTTP_VERSION_2_0;
    }
  }
  SetCurlOpt(easy_, CURLOPT_HTTP_VERSION, curl_version);
  // A host that may speak HTTP/2: a stream waits for the connection to be
  // known multiplexed rather than open one of its own (PIPEWAIT), and
  // curl's verbose text is read for GOAWAY and refused streams, which
  // libcurl 7.88 reports nowhere else (engine/curl_h2_signals.h). Hosts
  // forced to HTTP/1.1 pay nothing for it.
  const bool h2 = version != HttpVersion::kHttp11 && (conn_.https_ || version == HttpVersion::kH2c);
  if (h2 != verbose_) {
    verbose_ = h2;
    SetCurlOpt(easy_, CURLOPT_PIPEWAIT, h2 ? 1L : 0L);
    SetCurlOpt(easy_, CURLOPT_DEBUGFUNCTION, h2 ? &CurlStream::OnDebug : nullptr);
    SetCurlOpt(easy_, CURLOPT_DEBUGDATA, h2 ? this : nullptr);
    SetCurlOpt(easy_, CURLOPT_VERBOSE, h2 || CurlVerboseFromEnvironment() ? 1L : 0L);
  }
}

absl::Status CurlStream::StartTransfer() {
  absl::Status added = conn_.owner_.multi().Add(easy_);
  if (added.ok()) in_multi_ = true;
  return added;
}

void CurlStream::FinishTransfer() {
  if (!in_multi_) return;
  in_multi_ = false;
  conn_.owner_.multi().Remove(easy_);
}

void CurlStream::ReportConnectedIfPending() {
  if (!connected_pending_) return;
  connected_pending_ = false;
  conn_.owner_.OnConnected(*this);
}

void CurlStream::OnTransferDone(CURLcode code) {
  ReportConnectedIfPending();
  // The owner may release the slot, which can destroy this stream and its
  // connection or start the next transfer on it: nothing of ours is
  // touched after.
  conn_.owner_.OnTransferDone(*this, code);
}

curl_socket_t CurlStream::OnOpenSocket(void* clientp, curlsocktype purpose,
                                       curl_sockaddr* address) {
  auto* self = static_cast<CurlStream*>(clientp);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  // libcurl replays a request that died on a reused connection before any
  // response byte on a new connection of its own (Curl_retry_request:
  // "Connection died, retrying a fresh connect", or "REFUSED_STREAM,
  // retrying a fresh connect"), whatever the method, a plain POST
  // included. Replaying is the engine's decision (never a plain POST
  // unless the origin refused the stream, counted), so no second
  // connection once the request went out.
  if (self->request_started_) {
    self->reconnect_refused_ = true;
    return CURL_SOCKET_BAD;
  }
  // A stream added to a connection other streams use never opens one of
  // its own: the pool counts it on this slot. curl asks when it cannot
  // multiplex onto the connection (GOAWAY came, or the origin allows fewer
  // streams than the pool put there); the engine replays it elsewhere.
  if (self->shared_) {
    self->own_connection_refused_ = true;
    return CURL_SOCKET_BAD;
  }
  // The policy sees the address actually connected to, after DNS: a name
  // that resolves to a metadata or loopback address is refused here.
  CurlConnectionOwner& owner = self->conn_.owner_;
  const sockaddr* addr = &address->addr;
  if (owner.self_addresses().Contains(addr)) {
    self->policy_denial_ = owner.self_addresses().Explain(addr);
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
  const int fd = owner.multi().OpenSocket(address->family, address->socktype, address->protocol);
  if (fd < 0) {
    self->socket_errno_ = errno;  // EMFILE: out of descriptors, not refused by the origin
    return CURL_SOCKET_BAD;
  }
  ++self->sockets_opened_this_transfer_;
  self->conn_.OnSocketOpened(fd);
  return fd;
}

int CurlStream::OnResolverStart(void*, void*, void* clientp) {
  static_cast<CurlStream*>(clientp)->slot().pool().RecordDnsLookup();
  return 0;
}

int CurlStream::OnPrereq(void* clientp, char*, char*, int, int) {
  auto* self = static_cast<CurlStream*>(clientp);
  self->request_started_ = true;
  self->conn_.OnStreamConnected(*self);
  return CURL_PREREQFUNC_OK;
}

int CurlStream::OnDebug(CURL*, curl_infotype type, char* data, size_t size, void* clientp) {
  auto* self = static_cast<CurlStream*>(clientp);
  const absl::string_view text(data, size);
  if (CurlVerboseFromEnvironment() &&
      (type == CURLINFO_TEXT || type == CURLINFO_HEADER_IN || type == CURLINFO_HEADER_OUT)) {
    static constexpr const char* kPrefix[] = {"* ", "< ", "> "};
    std::fprintf(stderr, "%s%.*s", kPrefix[type], static_cast<int>(size), data);
  }
  if (type == CURLINFO_HEADER_IN) self->ReportConnectedIfPending();  // the body went out
  if (type != CURLINFO_TEXT) return 0;
  const CurlH2Event event = ParseCurlText(text);
  switch (event.signal) {
    case CurlH2Signal::kUploadDone:
      self->ReportConnectedIfPending();
      break;
    case CurlH2Signal::kRefusedStream:
      self->refused_stream_ = true;
      break;
    case CurlH2Signal::kGoAway:
      self->conn_.OnGoAway(event.number);
      break;
    case CurlH2Signal::kStreamId:
      self->stream_id_ = event.number;
      break;
    case CurlH2Signal::kOriginStreamLimit:
      self->conn_.owner_.OnOriginStreamLimit(self->conn_, event.number);
      break;
    case CurlH2Signal::kNone:
      break;
  }
  return 0;
}

// ---- CurlConnection ----

CurlConnection::CurlConnection(CurlConnectionOwner& owner, Slot& slot)
    : owner_(owner), slot_(slot), https_(absl::StartsWith(slot.pool().key(), "https://")) {
  connection_cache_ = curl_share_init();
  if (connection_cache_ == nullptr ||
      curl_share_setopt(connection_cache_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK) {
    std::fprintf(stderr, "curl handle allocation failed\n");
    std::abort();
  }
}

CurlConnection::~CurlConnection() { Close(); }

CurlStream* CurlConnection::AcquireStream() {
  if (!free_streams_.empty()) {
    CurlStream* stream = free_streams_.back();
    free_streams_.pop_back();
    return stream;
  }
  streams_.push_back(std::make_unique<CurlStream>(*this));
  return streams_.back().get();
}

void CurlConnection::ReleaseStream(CurlStream* stream) {
  stream->FinishTransfer();
  stream->set_fetch_id(0);
  stream->set_profile(nullptr);
  free_streams_.push_back(stream);
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
  // Each stream leaves the multi and its easy handle goes.
  free_streams_.clear();
  streams_.clear();
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

void CurlConnection::OnSocketOpened(curl_socket_t fd) {
  open_fds_.push_back(fd);
  fd_ = fd;
}

bool CurlConnection::remote_address(sockaddr_storage* out) const {
  if (!has_remote_ || fd_ == CURL_SOCKET_BAD) return false;
  *out = remote_;
  return true;
}

int CurlConnection::OnCloseSocket(void* clientp, curl_socket_t fd) {
  auto* self = static_cast<CurlConnection*>(clientp);
  self->last_close_was_local_ = CloseLeavesTimeWait(fd);
  auto& fds = self->open_fds_;
  fds.erase(std::remove(fds.begin(), fds.end(), fd), fds.end());
  if (fd == self->fd_) self->fd_ = fds.empty() ? CURL_SOCKET_BAD : fds.back();
  return self->owner_.multi().CloseSocket(fd);
}

void CurlConnection::OnStreamConnected(CurlStream& stream) {
  // Once connected, the socket in use is the connection's (a happy-eyeballs
  // loser may still be open for a moment).
  curl_socket_t active = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(stream.easy_, CURLINFO_ACTIVESOCKET, &active) == CURLE_OK &&
      active != CURL_SOCKET_BAD) {
    fd_ = active;
  }
  if (stream.sockets_opened_this_transfer_ > 0) {
    // Where this connection goes, for the lease-time check of a later fetch
    // under another profile (FetchRunner::OnLease).
    socklen_t len = sizeof(remote_);
    has_remote_ = fd_ != CURL_SOCKET_BAD &&
                  getpeername(fd_, reinterpret_cast<sockaddr*>(&remote_), &len) == 0;
    // A new connection: count its handshake, if it was TLS, and whether the
    // session the loop offered was taken.
    const TlsHandshake handshake = ExamineHandshake(stream.easy_);
    if (handshake.happened) {
      slot_.pool().RecordTlsHandshake(handshake.resumed, handshake.took);
    }
    // TLS: what ALPN chose (no ALPN: HTTP/1.1); cleartext: the setting.
    // (CURLINFO_HTTP_VERSION is still 0 at this point.)
    absl::string_view protocol = "http/1.1";
    if (handshake.happened) {
      if (!handshake.alpn.empty()) protocol = handshake.alpn;
    } else if (http_version_ == HttpVersion::kH2c) {
      protocol = "h2c";
    }
    multiplexed_ = protocol == "h2" || protocol == "h2c";
    goaway_seen_ = false;
    slot_.pool().RecordProtocol(protocol);
  } else if (!has_remote_) {
    socklen_t len = sizeof(remote_);
    has_remote_ = fd_ != CURL_SOCKET_BAD &&
                  getpeername(fd_, reinterpret_cast<sockaddr*>(&remote_), &len) == 0;
  }
  // libcurl 7.88 sends a request's body only when that transfer runs again
  // after its HEADERS went out; with 31 streams joining the connection at
  // once, stream 1's body was seen to leave too late (never, before the
  // origin's GOAWAY), and the origin, which had answered or was waiting,
  // dropped the stream: the POST failed and could not be sent again. So a
  // multiplexed connection opened by a request with a body is reported
  // (and its streams handed to waiters) once that body is sent, the
  // response begins, or the transfer ends.
  if (multiplexed_ && stream.sockets_opened_this_transfer_ > 0 && stream.sends_body_) {
    stream.connected_pending_ = true;
    return;
  }
  owner_.OnConnected(stream);
}

void CurlConnection::OnGoAway(uint32_t last_stream) {
  // A second GOAWAY may only lower the last stream id (RFC 9113 6.8).
  if (goaway_seen_) {
    goaway_last_stream_ = std::min(goaway_last_stream_, last_stream);
    return;
  }
  goaway_seen_ = true;
  goaway_last_stream_ = last_stream;
  // Inside curl's callback: the pool's transition (which may hand out new
  // connections and start their transfers) runs once curl returns.
  std::weak_ptr<char> alive = alive_;
  owner_.multi().RunOutsideCurl([this, alive] {
    if (alive.expired()) return;
    slot_.pool().MarkGoingAway(&slot_);
  });
}

}  // namespace fetchpool
