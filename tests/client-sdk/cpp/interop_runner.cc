// The interop scenario (tests/client-sdk/interop/) through the C++ SDK's
// public API: one JSON line per step appended to $FETCHPOOL_OUT. Exits 0 once every line is
// written, whatever they say: the checker judges.
#include <curl/curl.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <fetchpool/client.h>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace {

using fetchpool::Client;
using fetchpool::ClientOptions;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;
using Result = absl::StatusOr<FetchResponse>;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

std::string Quote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// The step's line: sdk, step, code, reason, status (0 on failure), then
// `fields` (already JSON: "\"name\": value" each).
void Report(const std::string& step, const absl::Status& status, int http_status,
            const std::vector<std::string>& fields = {}) {
  std::string line = absl::StrCat("{\"sdk\": \"cpp\", \"step\": ", Quote(step), ", \"code\": ",
                                  Quote(absl::StatusCodeToString(status.code())), ", \"reason\": ",
                                  Quote(fetchpool::ErrorReason(status)), ", \"status\": ", http_status);
  for (const std::string& field : fields) absl::StrAppend(&line, ", ", field);
  line += "}";
  std::cout << line << std::endl;
  std::ofstream(Env("FETCHPOOL_OUT"), std::ios::app) << line << "\n";
}

void Report(const std::string& step, const Result& result, const std::vector<std::string>& fields = {}) {
  Report(step, result.status(), result.ok() ? result->status() : 0, fields);
}

std::string Field(const std::string& name, const std::string& json) { return absl::StrCat(Quote(name), ": ", json); }
std::string Bool(bool b) { return b ? "true" : "false"; }

FetchRequest Request(const std::string& method, const std::string& url, const std::string& body = "") {
  FetchRequest request;
  request.set_method(method);
  request.set_url(url);
  request.set_body(body);
  return request;
}

size_t Append(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// A plain HTTP GET of the origin (not through fetchpool); "" on failure.
std::string PlainGet(const std::string& url) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  return rc == CURLE_OK ? body : "";
}

std::future<Result> Async(Client& client, const FetchRequest& request) {
  auto promise = std::make_shared<std::promise<Result>>();
  client.FetchAsync(request, [promise](Result r) { promise->set_value(std::move(r)); });
  return promise->get_future();
}

void Restart() {
  if (std::system(Env("FETCHPOOL_RESTART").c_str()) != 0) std::cerr << "FETCHPOOL_RESTART failed\n";
}

}  // namespace

int main() {
  const std::string origin = Env("FETCHPOOL_ORIGIN");
  const std::string slow = Env("FETCHPOOL_SLOW_ORIGIN");
  if (Env("FETCHPOOL_TARGET").empty() || origin.empty() || Env("FETCHPOOL_OUT").empty()) {
    std::cerr << "FETCHPOOL_TARGET, FETCHPOOL_ORIGIN and FETCHPOOL_OUT must be set\n";
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Client client(Env("FETCHPOOL_TARGET"));

  {  // 1. get
    const std::string url = origin + "/status/200";
    Result r = client.Get(url);
    Report("get", r, {Field("pool_key_match", Bool(r.ok() && fetchpool::PoolKey(url) == r->pool()))});
  }
  {  // 2. post
    Result r = client.Fetch(Request("POST", origin + "/echo", "interop"));
    Report("post", r, {Field("body", Quote(r.ok() ? r->body() : ""))});
  }
  Report("not_found", client.Get(origin + "/status/404"));
  {  // 4. wait_timeout: B waits for the one connection A holds.
    std::future<Result> first = Async(client, Request("GET", slow + "/sleep?ms=1500"));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    FetchRequest b = Request("GET", slow + "/status/200");
    b.mutable_wait_timeout()->set_nanos(200 * 1000 * 1000);
    Result second = client.Fetch(b);
    Result a = first.get();
    Report("wait_timeout", second, {Field("first_status", absl::StrCat(a.ok() ? a->status() : 0))});
  }
  Report("denied", client.Get(Env("FETCHPOOL_DENIED_URL")));
  {  // 6. pool_keys
    std::vector<std::string> mismatches;
    int checked = 0;
    for (absl::string_view url : absl::StrSplit(Env("FETCHPOOL_KEY_URLS"), ' ', absl::SkipEmpty())) {
      ++checked;
      const std::string key = fetchpool::PoolKey(url).value_or("");
      Result r = client.Get(url);
      const std::string pool = r.ok() ? r->pool() : absl::StrCat("<", r.status().ToString(), ">");
      if (key != pool) mismatches.push_back(Quote(absl::StrCat(url, " ", key, " ", pool)));
    }
    Report("pool_keys", absl::OkStatus(), 0,
           {Field("checked", absl::StrCat(checked)), Field("mismatches", absl::StrCat("[", absl::StrJoin(mismatches, ", "), "]"))});
  }
  {  // 7. stream
    auto stream = client.OpenStream();
    std::vector<std::future<Result>> answers;
    for (int i = 0; i < 100; ++i) answers.push_back(stream->Submit(Request("POST", origin + "/echo", absl::StrCat("n", i))));
    int ok = 0, matched = 0;
    absl::Status first_error;
    for (int i = 0; i < 100; ++i) {
      Result r = answers[i].get();
      if (!r.ok() && first_error.ok()) first_error = r.status();
      if (r.ok() && r->status() == 200) ++ok;
      if (r.ok() && r->body() == absl::StrCat("n", i)) ++matched;
    }
    stream->Close();
    Report("stream", first_error, first_error.ok() ? 200 : 0,
           {Field("ok", absl::StrCat(ok)), Field("matched", absl::StrCat(matched))});
  }
  {  // 8. stats
    auto stats = client.Stats();
    bool found = false;
    const std::string key = fetchpool::PoolKey(origin).value_or("");
    if (stats.ok()) {
      for (const auto& pool : stats->pools()) found = found || pool.host() == key;
    }
    Report("stats", stats.status(), 0, {Field("pool_found", Bool(found))});
  }
  {  // 9-11: TLS, a token, mTLS
    ClientOptions tls;
    tls.ca_file = Env("FETCHPOOL_CA_FILE");
    tls.token = Env("FETCHPOOL_TOKEN");
    Report("tls_token", Client(Env("FETCHPOOL_TLS_TARGET"), tls).Get(origin + "/status/200"));
    tls.token = "wrong-token";
    Report("tls_bad_token", Client(Env("FETCHPOOL_TLS_TARGET"), tls).Get(origin + "/status/200"));
    ClientOptions mtls;
    mtls.ca_file = Env("FETCHPOOL_CA_FILE");
    mtls.client_cert_file = Env("FETCHPOOL_CLIENT_CERT");
    mtls.client_key_file = Env("FETCHPOOL_CLIENT_KEY");
    Report("mtls", Client(Env("FETCHPOOL_MTLS_TARGET"), mtls).Get(origin + "/status/200"));
  }
  // 12. restart_get: the retries carry a GET over the restart.
  Restart();
  Report("restart_get", client.Get(origin + "/status/200"));
  {  // 13. post_not_replayed
    absl::BitGen random;
    const std::string key = absl::StrCat("cpp-", absl::Uniform<uint64_t>(random));
    const std::string hits_url = absl::StrCat(origin, "/hits?key=", key);
    std::future<Result> post = Async(client, Request("POST", absl::StrCat(origin, "/count?key=", key, "&ms=3000"), "once"));
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (PlainGet(hits_url) != "1" && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Restart();
    Result r = post.get();
    const auto back_by = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!client.Get(origin + "/status/200").ok() && std::chrono::steady_clock::now() < back_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    int hits = 0;
    const std::string body = PlainGet(hits_url);
    if (!absl::SimpleAtoi(body, &hits)) hits = -1;
    Report("post_not_replayed", r.status(), r.ok() ? r->status() : 0, {Field("origin_hits", absl::StrCat(hits))});
  }
  curl_global_cleanup();
  return 0;
}
