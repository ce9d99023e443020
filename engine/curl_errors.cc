#include "engine/curl_errors.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "engine/tls_setup.h"

namespace fetchpool {
namespace {

// "TLS with https://api:443 failed: <curl's words> (<why, if curl did not
// say>)": the verification result by OpenSSL's name for it, a name mismatch
// or a protocol version below the TLS 1.2 minimum said plainly.
absl::Status TlsFailure(const TransferFailure& f, const std::string& detail) {
  std::string why;
  const std::string verify = VerifyResultText(f.tls_verify_result);
  if (!verify.empty()) {
    if (detail.find(verify) == std::string::npos) {
      why = absl::StrCat("certificate verification: ", verify);
    }
  } else if (f.code == CURLE_PEER_FAILED_VERIFICATION &&
             detail.find("host name") != std::string::npos) {
    why = "hostname mismatch: the certificate does not name this host";
  } else if (detail.find("protocol version") != std::string::npos ||
             detail.find("unsupported protocol") != std::string::npos) {
    why = "the origin offers no TLS version fetchpool accepts; TLS 1.2 at least is required";
  }
  return MakeError(Reason::kTlsError,
                   absl::StrCat("TLS with ", f.pool_key, " failed: ", detail,
                                why.empty() ? "" : absl::StrCat(" (", why, ")")));
}

}  // namespace

bool IsStaleConnectionError(CURLcode code) {
  return code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING;
}

absl::Status TransferFailureToStatus(const TransferFailure& f) {
  const std::string detail = f.curl_detail.empty() ? curl_easy_strerror(f.code) : f.curl_detail;
  const char* on_conn = f.reused_connection ? "a reused connection" : "a new connection";
  switch (f.code) {
    case CURLE_COULDNT_RESOLVE_HOST:
      return MakeError(Reason::kDnsFailure,
                       absl::StrCat("could not resolve the host of ", f.pool_key, ": ", detail));
    case CURLE_COULDNT_CONNECT:
      if (f.socket_errno != 0) {
        // Our own limit (EMFILE, ENFILE, ENOBUFS...), not the origin's refusal.
        return MakeError(Reason::kLocalResources,
                         absl::StrCat("fetchpoold could not open a socket to ", f.pool_key, ": ",
                                      std::strerror(f.socket_errno),
                                      " (each upstream connection uses one file descriptor)"));
      }
      if (!f.policy_denial.empty()) {
        return MakeError(Reason::kDestinationDenied,
                         absl::StrCat("connection to ", f.pool_key, " refused by policy: ",
                                      f.policy_denial));
      }
      return MakeError(Reason::kConnectRefused,
                       absl::StrCat("could not connect to ", f.pool_key, ": ", detail));
    case CURLE_OPERATION_TIMEDOUT:
      if (!f.connected) {
        return MakeError(Reason::kConnectTimeout,
                         absl::StrCat("connecting to ", f.pool_key, " timed out: ", detail));
      }
      if (f.speed_floor > 0) {
        return MakeError(
            Reason::kUpstreamTooSlow,
            absl::StrCat("transfer with ", f.url, " stayed under ", f.speed_floor,
                         " bytes/s for ", absl::FormatDuration(f.speed_window),
                         " (--min_transfer_speed, --min_transfer_speed_window) after ",
                         f.body_bytes, " body bytes: ", detail));
      }
      return MakeError(Reason::kDeadlineExceeded,
                       absl::StrCat("request to ", f.url, " timed out after ", f.body_bytes,
                                    " body bytes: ", detail));
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return MakeError(Reason::kConnectionReset,
                       absl::StrCat("connection to ", f.pool_key, " failed on ", on_conn,
                                    " after ", f.body_bytes, " body bytes: ", detail));
    case CURLE_PARTIAL_FILE:
      return MakeError(Reason::kTruncatedResponse,
                       absl::StrCat("response from ", f.url, " was cut short after ",
                                    f.body_bytes, " body bytes: ", detail));
    case CURLE_WRITE_ERROR:
      if (!f.header_limit.empty()) {
        return MakeError(Reason::kResponseHeadersTooLarge,
                         absl::StrCat(f.header_limit, " from ", f.url));
      }
      if (f.too_large) {
        return MakeError(Reason::kResponseTooLarge,
                         absl::StrCat("response from ", f.url, " exceeds the limit of ",
                                      f.body_limit, " bytes"));
      }
      break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
      return TlsFailure(f, detail);
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_HTTP3:
      return MakeError(Reason::kProtocolError,
                       absl::StrCat("bad HTTP from ", f.pool_key, ": ", detail));
    case CURLE_OUT_OF_MEMORY:
      return MakeError(Reason::kInternal, absl::StrCat("out of memory fetching ", f.url));
    default:
      break;
  }
  return MakeError(Reason::kUpstreamError,
                   absl::StrCat("fetching ", f.url, " failed (curl ", static_cast<int>(f.code),
                                "): ", detail));
}

}  // namespace fetchpool
