#ifndef FETCHPOOL_ENGINE_TLS_SETUP_H_
#define FETCHPOOL_ENGINE_TLS_SETUP_H_

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/fetch_config.h"

namespace fetchpool {

struct EngineConfig;

// TLS toward origins, on top of curl's OpenSSL backend.
//
// Why an SSL_CTX hook instead of curl's own options:
// - ca_file is trusted IN ADDITION to the system store. CURLOPT_CAINFO would
//   replace the system bundle, and a combined bundle would be parsed again for
//   every new connection; instead each loop builds one X509_STORE per ca_file
//   at start (system default paths + the file) and hands it to the SSL_CTX.
// - TLS sessions must resume on NEW connections to a host. Every pooled
//   connection has an easy handle and a CURLSH of its own (the pool, not
//   curl, decides reuse), and an easy handle takes one CURLSH only, so
//   curl's CURL_LOCK_DATA_SSL_SESSION sharing cannot be added per loop. The
//   loop keeps the latest session per pool key instead (OpenSSL's new-session
//   callback, chained to curl's) and offers it to the next handshake.

// Checks at start that the TLS files of `config` can be read and parsed
// (CA bundle, client certificate and key, and that the key matches). The
// message begins with the setting's name.
absl::Status CheckTlsFiles(const FetchConfig& config);

// One loop's TLS state: trust stores per ca_file and one resumable session
// per pool key. Loop thread only: curl runs the hooks inside
// curl_multi_socket_action on that loop.
class LoopTls {
 public:
  // Builds a trust store for every distinct ca_file in `config`.
  explicit LoopTls(const EngineConfig& config);
  ~LoopTls();
  LoopTls(const LoopTls&) = delete;
  LoopTls& operator=(const LoopTls&) = delete;

  // The store for `ca_file`; nullptr for "" (curl loads the system store
  // itself) or a file that could not be loaded.
  X509_STORE* StoreFor(const std::string& ca_file) const;
  // Latest session the origin gave us (borrowed), or nullptr.
  SSL_SESSION* SessionFor(const std::string& pool_key) const;
  // Keeps a reference to `session` as the one to resume for `pool_key`.
  void KeepSession(const std::string& pool_key, SSL_SESSION* session);
  size_t session_count() const { return sessions_.size(); }

 private:
  absl::flat_hash_map<std::string, X509_STORE*> stores_;
  absl::flat_hash_map<std::string, SSL_SESSION*> sessions_;
};

// What one connection's TLS hooks need; owned by the connection, set as
// CURLOPT_SSL_CTX_DATA. `store` may be nullptr (system store only).
struct TlsHookTarget {
  LoopTls* tls = nullptr;  // set by the first transfer's SetTransferTlsOptions
  std::string pool_key;
  X509_STORE* store = nullptr;
  // curl's own new-session callback, called after ours.
  int (*curl_new_session)(SSL*, SSL_SESSION*) = nullptr;
};

// Sets the options every transfer carries (TLS 1.2 at least, the SSL_CTX
// hook) once on a new easy handle.
void SetConstantTlsOptions(CURL* easy, TlsHookTarget* target);
// Sets the per-host TLS options of one transfer (verification, client
// certificate) and points the hook at the host's trust store.
void SetTransferTlsOptions(CURL* easy, const FetchConfig& config, LoopTls& tls,
                           const std::string& pool_key, TlsHookTarget* target);

// The handshake of the connection a transfer just made, if it is TLS.
struct TlsHandshake {
  bool happened = false;
  bool resumed = false;
  absl::Duration took;  // TCP connected to TLS established
  std::string alpn;     // the protocol the origin chose ("h2"), empty if none
};
TlsHandshake ExamineHandshake(CURL* easy);

// OpenSSL's words for a certificate verification result
// (CURLINFO_SSL_VERIFYRESULT): "self-signed certificate", "certificate has
// expired"; empty for X509_V_OK.
std::string VerifyResultText(long verify_result);

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_TLS_SETUP_H_
