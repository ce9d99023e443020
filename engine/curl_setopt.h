#ifndef FETCHPOOL_ENGINE_CURL_SETOPT_H_
#define FETCHPOOL_ENGINE_CURL_SETOPT_H_

#include <curl/curl.h>

#include <cstdio>
#include <cstdlib>

namespace fetchpool {

// curl_easy_setopt for the options set once per connection (curl_connection,
// tls_setup). A refusal means a libcurl built without something fetchpool
// relies on (an option, OpenSSL): carrying on would run with settings other
// than the ones configured, so it aborts with curl's reason.
template <typename T>
void SetCurlOpt(CURL* easy, CURLoption option, T value) {
  CURLcode rc = curl_easy_setopt(easy, option, value);
  if (rc != CURLE_OK) {
    std::fprintf(stderr, "curl_easy_setopt(%d) failed: %s\n", static_cast<int>(option),
                 curl_easy_strerror(rc));
    std::abort();
  }
}

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_CURL_SETOPT_H_
