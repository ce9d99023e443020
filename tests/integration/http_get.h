#ifndef FETCHPOOL_TESTS_INTEGRATION_HTTP_GET_H_
#define FETCHPOOL_TESTS_INTEGRATION_HTTP_GET_H_

// A plain HTTP GET on loopback (libcurl) for the tests of the metrics
// listener: /metrics, the status page and /stats.json.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace fetchpool::testing {

// GET http://127.0.0.1:<port><path>; "" and a failure on a transport error.
// `status` and `content_type` (when not null) get the response's.
inline std::string HttpGet(int port, const std::string& path, long* status = nullptr,
                           std::string* content_type = nullptr) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, absl::StrCat("http://127.0.0.1:", port, path).c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                   +[](char* data, size_t size, size_t n, void* out) -> size_t {
                     static_cast<std::string*>(out)->append(data, size * n);
                     return size * n;
                   });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  if (content_type != nullptr) {
    char* type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    *content_type = type == nullptr ? "" : type;
  }
  curl_easy_cleanup(curl);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
  if (status != nullptr) *status = code;
  return body;
}

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_INTEGRATION_HTTP_GET_H_
