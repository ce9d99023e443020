#ifndef FETCHPOOL_ENGINE_CURL_CONNECTION_H_
#define FETCHPOOL_ENGINE_CURL_CONNECTION_H_

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"

#include "absl/status/status.h"
#include "engine/curl_multi.h"
#include "engine/egress_profile.h"
#include "engine/self_addresses.h"
#include "engine/event_loop.h"
#include "engine/fetch_config.h"
#include "engine/tls_setup.h"
#include "pool/host_pool.h"

namespace fetchpool {

class CurlConnection;
class CurlStream;

// What a CurlConnection needs from the engine that owns it. All calls happen
// on the loop thread.
class CurlConnectionOwner {
 public:
  virtual ~CurlConnectionOwner() = default;
  virtual EventLoop& loop() = 0;
  virtual CurlMulti& multi() = 0;
  // fetchpool's own listening addresses, refused under every profile.
  virtual const SelfAddresses& self_addresses() = 0;
  // The loop's trust stores and TLS session cache.
  virtual LoopTls& tls() = 0;
  // `stream` opened its connection, which is established, and its request
  // is about to be sent (called inside curl's prereq callback).
  virtual void OnConnected(CurlStream& stream) = 0;
  // The transfer on `stream` ended (CURLMSG_DONE) with `code`. The handle is
  // still in the multi: the owner calls FinishTransfer() before reusing or
  // closing.
  virtual void OnTransferDone(CurlStream& stream, CURLcode code) = 0;
  // The origin closed (or wrote to) this connection while it sat idle.
  virtual void OnIdleConnectionLost(CurlConnection& conn) = 0;
  // HTTP/2: curl would not put another stream on `conn`: the origin's
  // SETTINGS_MAX_CONCURRENT_STREAMS is `limit` (called inside a curl
  // callback).
  virtual void OnOriginStreamLimit(CurlConnection& conn, uint32_t limit) = 0;
};

// One request on a pooled connection: a curl easy handle and what belongs
// to one transfer (the fetch, its egress profile, curl's error message,
// what happened to sockets during it). An HTTP/1.1 connection has one
// stream at a time; an HTTP/2 connection as many as run on it at once,
// each its own easy handle, all sharing the connection's CURLSH. Streams
// are made by their connection, kept for reuse when their transfer ends
// and destroyed with it.
class CurlStream final : public CurlTransfer {
 public:
  explicit CurlStream(CurlConnection& conn);
  ~CurlStream();
  CurlStream(const CurlStream&) = delete;
  CurlStream& operator=(const CurlStream&) = delete;

  CurlConnection& connection() const { return conn_; }
  Slot& slot() const;
  CURL* easy() const { return easy_; }

  // Clears what the previous request set (method, body) and sets the
  // connect timeout; the engine adds the request's own options after this.
  // Options that never change were set once, when the handle was made:
  // resetting and re-setting ~25 options per request showed in profiles.
  // `shared`: the stream joins a multiplexed connection that other streams
  // use now; it may open no socket (HostPool's Lease::shared).
  void PrepareTransfer(absl::Duration connect_timeout, bool shared);
  // The host's TLS settings (verification, client certificate, trust
  // store); set by the first transfer, fixed for the handle's life.
  void ConfigureTls(const FetchConfig& config);
  // The HTTP this transfer asks for (the host's http_version setting), set
  // before each transfer: an h2c connection is opened by prior knowledge
  // and reused as HTTP/2. Hosts that may speak HTTP/2 also get PIPEWAIT and
  // curl's verbose text, read for what 7.88 has no API for
  // (engine/curl_h2_signals.h).
  void ConfigureHttpVersion(HttpVersion version);
  // The request of this transfer has a body (ConfigureExchange).
  void set_sends_body(bool sends_body) { sends_body_ = sends_body; }
  // curl's message for the last failure ("Failed to connect to ... port ...").
  const char* error_detail() const { return error_buffer_; }
  absl::Status StartTransfer();  // curl_multi_add_handle
  // Takes the handle out of the multi. Mid-transfer this closes an
  // HTTP/1.1 connection (curl cannot reuse a half-done exchange) and resets
  // just the stream on an HTTP/2 one.
  void FinishTransfer();

  // The fetch whose exchange runs on this stream (0: none): the link from
  // curl's end of a transfer back to its fetch, by id, so a fetch that is
  // gone is never dereferenced.
  uint64_t fetch_id() const { return fetch_id_; }
  void set_fetch_id(uint64_t id) { fetch_id_ = id; }
  // The egress profile of the fetch on this stream: a socket it opens must
  // go to an address the profile allows. Set with the fetch id; the fetch
  // keeps the profile alive while it holds the lease. nullptr: every
  // socket is refused (fail closed).
  void set_profile(const EgressProfile* profile) { profile_ = profile; }

  // Sockets opened during the current transfer (0 when the cached
  // connection was reused, 1 when curl connected).
  int sockets_opened_this_transfer() const { return sockets_opened_this_transfer_; }
  // Set when the destination policy refused the resolved address.
  const std::string& policy_denial() const { return policy_denial_; }
  // errno of a socket() that failed in this transfer (EMFILE...), or 0.
  int socket_errno() const { return socket_errno_; }
  // libcurl wanted a second connection in this transfer after the request
  // had gone out on this one (its own replay of a request that died on a
  // reused connection, or of a refused HTTP/2 stream) and was refused: the
  // request got no response.
  bool reconnect_refused() const { return reconnect_refused_; }
  // HTTP/2: the origin never processed this transfer's stream, so it is
  // safe to send again: curl said REFUSED_STREAM, or the stream's id is
  // above the last-stream-id of the connection's GOAWAY (RFC 9113 6.8).
  bool refused_stream() const;
  // HTTP/2: the stream id curl gave this transfer (0: none yet).
  uint32_t stream_id() const { return stream_id_; }
  // A shared stream on which curl wanted a connection of its own before
  // the request went out (the connection is going away, or the origin's
  // stream limit is lower than the pool's): refused, nothing was sent.
  bool own_connection_refused() const { return own_connection_refused_; }

  // CurlTransfer:
  void OnTransferDone(CURLcode code) override;
  FdHandler* socket_handler() override;

 private:
  friend class CurlConnection;
  static curl_socket_t OnOpenSocket(void* clientp, curlsocktype purpose, curl_sockaddr* address);
  static int OnPrereq(void* clientp, char* conn_primary_ip, char* conn_local_ip,
                      int conn_primary_port, int conn_local_port);
  static int OnResolverStart(void* resolver_state, void* reserved, void* clientp);
  static int OnDebug(CURL* easy, curl_infotype type, char* data, size_t size, void* clientp);
  void SetConstantOptions();
  // Tells the owner about the connection now, if it was held back.
  void ReportConnectedIfPending();

  CurlConnection& conn_;
  // Outlives every SSL_CTX curl makes for this handle (streams live as
  // long as their connection).
  TlsHookTarget tls_target_;
  CURL* easy_ = nullptr;
  bool in_multi_ = false;
  bool verbose_ = false;  // CURLOPT_VERBOSE and our debug callback are on
  uint64_t fetch_id_ = 0;
  bool shared_ = false;
  int sockets_opened_this_transfer_ = 0;
  bool request_started_ = false;  // OnPrereq ran in this transfer
  bool reconnect_refused_ = false;
  bool refused_stream_ = false;
  bool own_connection_refused_ = false;
  uint32_t stream_id_ = 0;
  bool sends_body_ = false;
  // This stream opened a multiplexed connection with a request that has a
  // body: the pool hears of the connection (and hands its streams to
  // waiters) once the body is sent (CurlConnection::OnStreamConnected).
  bool connected_pending_ = false;

  std::string policy_denial_;
  const EgressProfile* profile_ = nullptr;
  int socket_errno_ = 0;
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

// One pooled connection: a connection cache of its own (a CURLSH sharing
// only the connection cache) whose one connection is this slot's, so the
// pool, not curl, decides reuse, idle time and closing. Its streams (easy
// handles) run in the owner's one CurlMulti, which also caches DNS results
// for every connection; TLS sessions are resumed across the loop's
// connections to a host (LoopTls, engine/tls_setup.h). HTTP/1.1 runs one
// stream at a time; HTTP/2 (ALPN h2, or h2c by prior knowledge) up to
// the slot's max_streams, each a stream sharing the CURLSH.
class CurlConnection final : public Connection, public FdHandler {
 public:
  // curl's own cap on one connection's streams (CURLMOPT_MAX_CONCURRENT_STREAMS
  // default). libcurl 7.88 does not say what the origin's
  // SETTINGS_MAX_CONCURRENT_STREAMS is, so a multiplexed slot is told this.
  static constexpr uint32_t kCurlMaxStreams = 100;

  CurlConnection(CurlConnectionOwner& owner, Slot& slot);
  ~CurlConnection() override;

  Slot& slot() const { return slot_; }
  CurlConnectionOwner& owner() const { return owner_; }
  bool https() const { return https_; }

  // A stream for the next transfer on this connection: a kept one, or a
  // new easy handle.
  CurlStream* AcquireStream();
  // A stream whose transfer is over (FinishTransfer done) is kept for reuse.
  void ReleaseStream(CurlStream* stream);
  size_t streams_running() const { return streams_.size() - free_streams_.size(); }

  // The address the open connection goes to (recorded once connected);
  // false when there is none.
  bool remote_address(sockaddr_storage* out) const;
  // True while a socket is open (the connection can go back idle).
  bool has_socket() const { return fd_ >= 0; }
  // The connection carries several streams (h2 by ALPN, or h2c).
  bool multiplexed() const { return multiplexed_; }
  // The origin sent GOAWAY on it (seen in curl's verbose text), and the
  // last stream id it said it processed or may process.
  bool goaway_seen() const { return goaway_seen_; }
  uint32_t goaway_last_stream() const { return goaway_last_stream_; }

  // Connection:
  bool LooksAlive() override;
  void SetIdle(bool idle) override;
  bool Close() override;

  // FdHandler: the socket's events, while idle (the origin closing) or
  // while curl runs streams on it.
  void OnFdEvent(int fd, uint32_t epoll_events) override;

 private:
  friend class CurlStream;
  static int OnCloseSocket(void* clientp, curl_socket_t fd);
  // From the streams' callbacks.
  void OnSocketOpened(curl_socket_t fd);
  void OnStreamConnected(CurlStream& stream);
  void OnGoAway(uint32_t last_stream);

  CurlConnectionOwner& owner_;
  Slot& slot_;
  const bool https_;  // the pool key's scheme
  HttpVersion http_version_ = HttpVersion::kHttp11;
  CURLSH* connection_cache_ = nullptr;
  std::vector<std::unique_ptr<CurlStream>> streams_;
  std::vector<CurlStream*> free_streams_;
  bool idle_ = false;
  bool closed_ = false;
  bool multiplexed_ = false;
  bool goaway_seen_ = false;
  uint32_t goaway_last_stream_ = 0;
  // Sockets curl opened and has not closed (two briefly while happy
  // eyeballs races IPv6 and IPv4); fd_ is the connection's once it settles.
  absl::InlinedVector<curl_socket_t, 2> open_fds_;
  curl_socket_t fd_ = CURL_SOCKET_BAD;
  bool last_close_was_local_ = false;
  sockaddr_storage remote_{};
  bool has_remote_ = false;
  // Lets a task deferred until curl returns (CurlMulti::RunOutsideCurl)
  // find out whether this connection still exists.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_CURL_CONNECTION_H_
