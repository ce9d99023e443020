#include "engine/tls_setup.h"

#include <openssl/err.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/curl_setopt.h"
#include "engine/engine_config.h"

namespace fetchpool {
namespace {

// Sessions kept per loop; past it one is dropped for each new pool key (a
// lost session only costs one full handshake).
constexpr size_t kMaxSessionsPerLoop = 4096;

std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no detail from OpenSSL";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

absl::Status FileError(absl::string_view setting, const std::string& path,
                       absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(setting, " \"", path, "\": ", why));
}

absl::Status CheckReadable(absl::string_view setting, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return FileError(setting, path, absl::StrCat("cannot read it: ", std::strerror(errno)));
  }
  std::fclose(f);
  return absl::OkStatus();
}

X509_STORE* BuildStore(const std::string& ca_file) {
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) return nullptr;
  // The system store as OpenSSL finds it (Debian: /etc/ssl/certs), then the
  // extra bundle. Flags as curl sets them on the store it builds itself.
  if (X509_STORE_set_default_paths(store) != 1 ||
      X509_STORE_load_file(store, ca_file.c_str()) != 1) {
    X509_STORE_free(store);
    ERR_clear_error();
    return nullptr;
  }
  X509_STORE_set_flags(store, X509_V_FLAG_TRUSTED_FIRST | X509_V_FLAG_PARTIAL_CHAIN);
  return store;
}

int TargetIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

TlsHookTarget* TargetOf(const SSL* ssl) {
  return static_cast<TlsHookTarget*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), TargetIndex()));
}

// OpenSSL got a session (TLS 1.2: at the handshake; TLS 1.3: a ticket after
// it): the loop keeps it for the host's next connection, curl for this handle.
int OnNewSession(SSL* ssl, SSL_SESSION* session) {
  TlsHookTarget* target = TargetOf(ssl);
  if (target == nullptr) return 0;
  if (target->tls != nullptr && SSL_SESSION_is_resumable(session) == 1) {
    target->tls->KeepSession(target->pool_key, session);
  }
  return target->curl_new_session != nullptr ? target->curl_new_session(ssl, session) : 0;
}

// The one moment between curl's SSL_new and the ClientHello where a session
// can still be offered: OpenSSL reports the start of the handshake before
// it builds the hello from SSL_get_session(). curl has offered its own
// (same handle, same host) if it had one.
void OnHandshakeInfo(const SSL* ssl, int where, int) {
  if ((where & SSL_CB_HANDSHAKE_START) == 0 || !SSL_in_before(ssl)) return;
  if (SSL_get_session(ssl) != nullptr) return;
  TlsHookTarget* target = TargetOf(ssl);
  if (target == nullptr || target->tls == nullptr) return;
  SSL_SESSION* session = target->tls->SessionFor(target->pool_key);
  // OpenSSL passes the SSL it is running as const; setting the session is
  // what SSL_set_session exists for, before the hello.
  if (session != nullptr) SSL_set_session(const_cast<SSL*>(ssl), session);
}

CURLcode OnSslContext(CURL*, void* ssl_ctx, void* userptr) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  auto* target = static_cast<TlsHookTarget*>(userptr);
  // curl built its store before calling us; ours replaces it (a reference).
  if (target->store != nullptr) SSL_CTX_set1_cert_store(ctx, target->store);
  if (SSL_CTX_set_ex_data(ctx, TargetIndex(), target) != 1) return CURLE_OUT_OF_MEMORY;
  target->curl_new_session = SSL_CTX_sess_get_new_cb(ctx);
  SSL_CTX_set_session_cache_mode(ctx, SSL_CTX_get_session_cache_mode(ctx) |
                                          SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx, &OnNewSession);
  SSL_CTX_set_info_callback(ctx, &OnHandshakeInfo);
  return CURLE_OK;
}

}  // namespace

absl::Status CheckTlsFiles(const FetchConfig& config) {
  if (!config.ca_file.empty()) {
    if (absl::Status s = CheckReadable("ca_file", config.ca_file); !s.ok()) return s;
    X509_STORE* store = X509_STORE_new();
    const bool loaded =
        store != nullptr && X509_STORE_load_file(store, config.ca_file.c_str()) == 1;
    X509_STORE_free(store);
    if (!loaded) {
      return FileError("ca_file", config.ca_file,
                       absl::StrCat("not a PEM certificate bundle (", OpenSslError(), ")"));
    }
  }
  const std::string& cert = config.tls_client_cert_file;
  const std::string& key = config.tls_client_key_file;
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(
        cert.empty() ? "tls_client_key_file is set without tls_client_cert_file; set both"
                     : "tls_client_cert_file is set without tls_client_key_file; set both");
  }
  if (cert.empty()) return absl::OkStatus();
  if (absl::Status s = CheckReadable("tls_client_cert_file", cert); !s.ok()) return s;
  if (absl::Status s = CheckReadable("tls_client_key_file", key); !s.ok()) return s;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return absl::ResourceExhaustedError("SSL_CTX_new failed");
  absl::Status status = absl::OkStatus();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    status = FileError("tls_client_cert_file", cert,
                       absl::StrCat("not a PEM certificate (", OpenSslError(), ")"));
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    status = FileError("tls_client_key_file", key,
                       absl::StrCat("not a PEM private key (", OpenSslError(), ")"));
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    status = FileError("tls_client_key_file", key,
                       absl::StrCat("does not match the certificate in \"", cert, "\""));
    ERR_clear_error();
  }
  SSL_CTX_free(ctx);
  return status;
}

LoopTls::LoopTls(const EngineConfig& config) {
  auto add = [this](const std::string& ca_file) {
    if (ca_file.empty() || stores_.contains(ca_file)) return;
    X509_STORE* store = BuildStore(ca_file);
    if (store == nullptr) {
      // Checked at start (CheckTlsFiles); gone since. The host's handshakes
      // fail verification (TLS_ERROR) rather than trust less than configured.
      std::fprintf(stderr, "fetchpool: cannot load ca_file \"%s\"; its hosts will fail TLS\n",
                   ca_file.c_str());
      return;
    }
    stores_[ca_file] = store;
  };
  add(config.defaults.fetch.ca_file);
  for (const auto& [key, host] : config.per_host) add(host.fetch.ca_file);
}

LoopTls::~LoopTls() {
  for (auto& [file, store] : stores_) X509_STORE_free(store);
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
}

X509_STORE* LoopTls::StoreFor(const std::string& ca_file) const {
  if (ca_file.empty()) return nullptr;
  auto it = stores_.find(ca_file);
  return it == stores_.end() ? nullptr : it->second;
}

SSL_SESSION* LoopTls::SessionFor(const std::string& pool_key) const {
  auto it = sessions_.find(pool_key);
  return it == sessions_.end() ? nullptr : it->second;
}

void LoopTls::KeepSession(const std::string& pool_key, SSL_SESSION* session) {
  auto it = sessions_.find(pool_key);
  if (it == sessions_.end() && sessions_.size() >= kMaxSessionsPerLoop) {
    SSL_SESSION_free(sessions_.begin()->second);
    sessions_.erase(sessions_.begin());
  }
  SSL_SESSION_up_ref(session);
  SSL_SESSION*& slot = sessions_[pool_key];
  if (slot != nullptr) SSL_SESSION_free(slot);
  slot = session;
}

void SetConstantTlsOptions(CURL* easy, TlsHookTarget* target) {
  SetCurlOpt(easy, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  SetCurlOpt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SetCurlOpt(easy, CURLOPT_SSL_CTX_FUNCTION, &OnSslContext);
  SetCurlOpt(easy, CURLOPT_SSL_CTX_DATA, static_cast<void*>(target));
}

void SetTransferTlsOptions(CURL* easy, const FetchConfig& config, LoopTls& tls,
                           const std::string& pool_key, TlsHookTarget* target) {
  // A connection belongs to one pool, whose settings are fixed at start:
  // its first transfer sets them for good.
  if (target->tls != nullptr) return;
  target->tls = &tls;
  target->pool_key = pool_key;
  target->store = tls.StoreFor(config.ca_file);
  if (target->store != nullptr) {
    // The hook installs our store (the system's plus ca_file): without
    // these, libcurl 7.88 then loads its default bundle (144 certificates)
    // into that store again on every new connection, ~35 ms of CPU each
    // (found by bench/tls: cold connections to a --ca_file origin timed out).
    SetCurlOpt(easy, CURLOPT_CAINFO, static_cast<const char*>(nullptr));
    SetCurlOpt(easy, CURLOPT_CAPATH, static_cast<const char*>(nullptr));
  }
  const bool verify = !config.insecure_skip_verify;
  SetCurlOpt(easy, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  SetCurlOpt(easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  if (!config.tls_client_cert_file.empty()) {
    SetCurlOpt(easy, CURLOPT_SSLCERT, config.tls_client_cert_file.c_str());
    SetCurlOpt(easy, CURLOPT_SSLKEY, config.tls_client_key_file.c_str());
  }
}

TlsHandshake ExamineHandshake(CURL* easy) {
  curl_tlssessioninfo* info = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == nullptr ||
      info->backend != CURLSSLBACKEND_OPENSSL || info->internals == nullptr) {
    return {};
  }
  auto* ssl = static_cast<SSL*>(info->internals);
  TlsHandshake handshake;
  handshake.happened = true;
  handshake.resumed = SSL_session_reused(ssl) == 1;
  curl_off_t connected_us = 0;
  curl_off_t established_us = 0;
  if (curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connected_us) == CURLE_OK &&
      curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &established_us) == CURLE_OK &&
      established_us >= connected_us) {
    handshake.took = absl::Microseconds(established_us - connected_us);
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn != nullptr) handshake.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  return handshake;
}

std::string VerifyResultText(long verify_result) {
  // curl reports "unspecified" (1) until OpenSSL has verified anything, e.g.
  // when the handshake failed before the certificate.
  if (verify_result == X509_V_OK || verify_result == X509_V_ERR_UNSPECIFIED) return "";
  return X509_verify_cert_error_string(verify_result);
}

}  // namespace fetchpool
