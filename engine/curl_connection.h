#ifndef FETCHPOOL_ENGINE_CURL_CONNECTION_H_
#define FETCHPOOL_ENGINE_CURL_CONNECTION_H_

#include <curl/curl.h>

#include <cstdint>
#include <string>

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
  // The connection is established and the request is about to be sent.
  virtual void OnConnected(CurlConnection& conn) = 0;
  // The transfer ended (CURLMSG_DONE) with `code`. The handle is still in
  // the multi: the owner calls FinishTransfer() before reusing or closing.
  virtual void OnTransferDone(CurlConnection& conn, CURLcode code) = 0;
  // The origin closed (or wrote to) this connection while it sat idle.
  virtual void OnIdleConnectionLost(CurlConnection& conn) = 0;
};

// One pooled connection: a curl easy handle with a connection cache of its
// own (a CURLSH sharing only the connection cache), so the connection curl
// caches is exactly this slot's and the pool, not curl, decides reuse, idle
// time and closing. Transfers run in the owner's one CurlMulti, which also
// caches DNS results for every connection; TLS sessions are resumed across
// the loop's connections to a host (LoopTls, engine/tls_setup.h).
class CurlConnection final : public Connection, public CurlTransfer {
 public:
  CurlConnection(CurlConnectionOwner& owner, Slot& slot);
  ~CurlConnection() override;

  Slot& slot() const { return slot_; }
  CURL* easy() const { return easy_; }

  // Clears what the previous request set (method, body) and sets the
  // connect timeout; the engine adds the request's own options after this.
  // Options that never change were set once, when the handle was made:
  // resetting and re-setting ~25 options per request showed in profiles.
  void PrepareTransfer(absl::Duration connect_timeout);
  // The host's TLS settings (verification, client certificate, trust
  // store); set by the first transfer, fixed for the connection's life.
  void ConfigureTls(const FetchConfig& config);
  // The HTTP this transfer asks for (the host's http_version setting), set
  // before each transfer: an h2c connection is opened by prior knowledge
  // and reused as HTTP/2.
  void ConfigureHttpVersion(HttpVersion version);
  // curl's message for the last failure ("Failed to connect to ... port ...").
  const char* error_detail() const { return error_buffer_; }
  absl::Status StartTransfer();  // curl_multi_add_handle
  // Takes the handle out of the multi. Mid-transfer this closes the
  // connection (curl cannot reuse a half-done exchange).
  void FinishTransfer();

  // The fetch whose exchange runs on this connection (0: none): the link
  // from curl's end of a transfer back to its fetch, by id, so a fetch
  // that is gone is never dereferenced.
  uint64_t fetch_id() const { return fetch_id_; }
  void set_fetch_id(uint64_t id) { fetch_id_ = id; }
  // The egress profile of the fetch leasing this connection: a socket it
  // opens must go to an address the profile allows. Set with the fetch id;
  // the fetch keeps the profile alive while it holds the lease. nullptr:
  // every socket is refused (fail closed).
  void set_profile(const EgressProfile* profile) { profile_ = profile; }
  // The address the open connection goes to (recorded once connected);
  // false when there is none.
  bool remote_address(sockaddr_storage* out) const;

  // True while a socket is open (the connection can go back idle).
  bool has_socket() const { return fd_ >= 0; }
  // Sockets opened during the current transfer (0 when the cached
  // connection was reused, 1 when curl connected).
  int sockets_opened_this_transfer() const { return sockets_opened_this_transfer_; }
  // Set when the destination policy refused the resolved address.
  const std::string& policy_denial() const { return policy_denial_; }
  // errno of a socket() that failed in this transfer (EMFILE...), or 0.
  int socket_errno() const { return socket_errno_; }
  // libcurl wanted a second connection in this transfer after the request
  // had gone out on this one (its own replay of a request that died on a
  // reused connection) and was refused: the request got no response.
  bool reconnect_refused() const { return reconnect_refused_; }

  // Connection:
  bool LooksAlive() override;
  void SetIdle(bool idle) override;
  bool Close() override;

  // CurlTransfer:
  void OnFdEvent(int fd, uint32_t epoll_events) override;
  void OnTransferDone(CURLcode code) override;

 private:
  static curl_socket_t OnOpenSocket(void* clientp, curlsocktype purpose, curl_sockaddr* address);
  static int OnCloseSocket(void* clientp, curl_socket_t fd);
  static int OnPrereq(void* clientp, char* conn_primary_ip, char* conn_local_ip,
                      int conn_primary_port, int conn_local_port);
  static int OnResolverStart(void* resolver_state, void* reserved, void* clientp);

  void SetConstantOptions();

  CurlConnectionOwner& owner_;
  Slot& slot_;
  const bool https_;  // the pool key's scheme
  HttpVersion http_version_ = HttpVersion::kHttp11;
  CURLSH* connection_cache_ = nullptr;
  // Outlives every SSL_CTX curl makes for this handle (freed in Close()).
  TlsHookTarget tls_target_;
  CURL* easy_ = nullptr;
  bool in_multi_ = false;
  uint64_t fetch_id_ = 0;
  bool idle_ = false;
  bool closed_ = false;
  // Sockets curl opened and has not closed (two briefly while happy
  // eyeballs races IPv6 and IPv4); fd_ is the connection's once it settles.
  absl::InlinedVector<curl_socket_t, 2> open_fds_;
  curl_socket_t fd_ = CURL_SOCKET_BAD;
  int sockets_opened_this_transfer_ = 0;
  bool last_close_was_local_ = false;
  bool request_started_ = false;  // OnPrereq ran in this transfer
  bool reconnect_refused_ = false;
  std::string policy_denial_;
  const EgressProfile* profile_ = nullptr;
  sockaddr_storage remote_{};
  bool has_remote_ = false;
  int socket_errno_ = 0;
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_CURL_CONNECTION_H_
