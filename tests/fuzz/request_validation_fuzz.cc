// libFuzzer target for the request-validation layer. Every input must end in
// either a FetchSpec that keeps the engine's assumptions, or an
// INVALID_ARGUMENT error carrying a known reason and a message. Anything else
// (a crash, a sanitizer report, another code, an unknown reason, a spec that
// breaks an invariant) aborts.
//
// The first input byte picks how the rest becomes a FetchRequest:
//   't'  protobuf text format (the readable seeds in corpus/)
//   'b'  protobuf binary
//   else built field by field with FuzzedDataProvider from interesting
//        pieces (schemes, hosts, hop-by-hop headers, edge durations), which
//        gets past the URL parser far more often than raw bytes do.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "fetchpool/v1/fetchpool.pb.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "common/reason.h"
#include "server/request_validation.h"

namespace {

using fetchpool::v1::FetchRequest;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "request_validation_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

const std::set<std::string>& KnownReasons() {
  static const auto* reasons = new std::set<std::string>{
#define FETCHPOOL_FUZZ_REASON(name, str, code) str,
      FETCHPOOL_REASONS(FETCHPOOL_FUZZ_REASON)
#undef FETCHPOOL_FUZZ_REASON
  };
  return *reasons;
}

template <size_t N>
std::string Pick(FuzzedDataProvider& fdp, const char* const (&options)[N]) {
  return options[fdp.ConsumeIntegralInRange<size_t>(0, N - 1)];
}

std::string BuildUrl(FuzzedDataProvider& fdp) {
  if (fdp.ConsumeIntegralInRange(0, 7) == 0) return fdp.ConsumeRandomLengthString(300);
  static const char* const kSchemes[] = {"http://", "https://", "HTTP://", "HtTpS://", "ftp://",
                                         "file://", "gopher://", "http:/", "http:", "",
                                         "localhost:", "foo+bar://"};
  static const char* const kUserinfo[] = {"", "", "", "u:p@", "@", ":@", "user@", "a%40b@"};
  static const char* const kHosts[] = {
      "h", "API.Example.COM", "127.0.0.1", "127.1", "0x7f.1", "[::1]", "[0:0::1]",
      "[::FFFF:7F00:1]", "[fe80::1%25eth0]", "[fe80::1%eth0]", "[::1", "%41.com",
      "xn--nxasmq6b.com", "h.", "", "a..b", "[v1.x]", "169.254.169.254", "a%2fb", "a%00b"};
  static const char* const kPorts[] = {"", "", ":80", ":443", ":0", ":65535", ":65536", ":",
                                       ":080", ":-1", ":99999999999"};
  std::string url = Pick(fdp, kSchemes);
  url += Pick(fdp, kUserinfo);
  url += fdp.ConsumeBool() ? Pick(fdp, kHosts) : fdp.ConsumeRandomLengthString(40);
  url += Pick(fdp, kPorts);
  url += fdp.ConsumeRandomLengthString(200);  // path, query, fragment, junk
  return url;
}

void AddHeaders(FuzzedDataProvider& fdp, FetchRequest* request) {
  static const char* const kNames[] = {
      "Host", "Accept", "Connection", "connection", "Keep-Alive", "Proxy-Connection",
      "Transfer-Encoding", "TE", "te", "Upgrade", "Content-Length", "Expect", "X-Id",
      ":authority", "", "X Y", "X-\x80"};
  int count = fdp.ConsumeIntegralInRange(0, 110);
  for (int i = 0; i < count && fdp.remaining_bytes() > 0; ++i) {
    auto* header = request->add_headers();
    header->set_name(fdp.ConsumeBool() ? Pick(fdp, kNames) : fdp.ConsumeRandomLengthString(20));
    size_t value_size = fdp.ConsumeIntegralInRange<size_t>(0, 100);
    // Now and then a huge value, to reach the 64 KiB total limit cheaply.
    if (fdp.ConsumeIntegralInRange(0, 30) == 0) value_size = 40000;
    std::string value = fdp.ConsumeRandomLengthString(value_size);
    if (value.size() < value_size && value_size == 40000) value.resize(value_size, 'v');
    header->set_value(value);
  }
}

void SetDuration(FuzzedDataProvider& fdp, google::protobuf::Duration* d) {
  static const int64_t kSeconds[] = {0, 1, -1, 3600, 3601, 315576000000, 315576000001,
                                     INT64_MIN, INT64_MAX};
  static const int32_t kNanos[] = {0, 1, 999999, 1000000, 999999999, 1000000000, -1,
                                   -999999999, INT32_MIN};
  d->set_seconds(fdp.ConsumeBool() ? kSeconds[fdp.ConsumeIntegralInRange<size_t>(0, 8)]
                                   : fdp.ConsumeIntegral<int64_t>());
  d->set_nanos(fdp.ConsumeBool() ? kNanos[fdp.ConsumeIntegralInRange<size_t>(0, 8)]
                                 : fdp.ConsumeIntegral<int32_t>());
}

FetchRequest BuildRequest(FuzzedDataProvider& fdp) {
  static const char* const kMethods[] = {"",    "GET",  "HEAD",    "POST",  "PUT",
                                         "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT",
                                         "get", "G ET", "GET\r\n"};
  FetchRequest request;
  request.set_method(fdp.ConsumeBool() ? Pick(fdp, kMethods) : fdp.ConsumeRandomLengthString(40));
  request.set_url(BuildUrl(fdp));
  AddHeaders(fdp, &request);
  request.set_body(fdp.ConsumeRandomLengthString(64));
  if (fdp.ConsumeBool()) request.set_max_response_bytes(fdp.ConsumeIntegral<uint64_t>());
  if (fdp.ConsumeBool()) SetDuration(fdp, request.mutable_wait_timeout());
  if (fdp.ConsumeBool()) SetDuration(fdp, request.mutable_request_timeout());
  request.set_follow_redirects(fdp.ConsumeBool());
  request.set_max_redirects(fdp.ConsumeIntegralInRange<uint32_t>(0, 60));
  request.set_idempotent(fdp.ConsumeBool());
  request.set_deadline_policy(
      static_cast<fetchpool::v1::DeadlinePolicy>(fdp.ConsumeIntegralInRange(-1, 3)));
  request.set_id(fdp.ConsumeRandomLengthString(140));
  return request;
}

bool HasRawByteBelowOrAt(absl::string_view s, unsigned char limit) {
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= limit || u >= 0x7f) return true;
  }
  return false;
}

void CheckError(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    Fail("error code is not INVALID_ARGUMENT", status.ToString());
  }
  if (status.message().empty()) Fail("empty error message", status.ToString());
  std::string reason = fetchpool::ReasonOf(status);
  if (KnownReasons().count(reason) == 0) Fail("unknown reason", reason);
}

void CheckSpec(const FetchRequest& request, const fetchpool::FetchSpec& spec) {
  const std::string& key = spec.pool_key;
  if (!absl::StartsWith(key, "http://") && !absl::StartsWith(key, "https://")) {
    Fail("pool_key scheme", key);
  }
  if (spec.url.empty()) Fail("empty url", request.url());
  if (spec.method.empty()) Fail("empty method", request.method());
  if (HasRawByteBelowOrAt(key, 0x20)) Fail("pool_key has a control byte or space", key);
  if (HasRawByteBelowOrAt(spec.url, 0x20)) Fail("url has a control byte or space", spec.url);
  if (spec.url.find('#') != std::string::npos) Fail("url kept its fragment", spec.url);
  const std::string scheme = key.substr(0, key.find(':'));
  if (!absl::StartsWith(spec.url, scheme + "://")) Fail("url/pool_key scheme differ", spec.url);
  uint32_t port = 0;
  size_t colon = key.rfind(':');
  if (!absl::SimpleAtoi(absl::string_view(key).substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    Fail("pool_key port", key);
  }
  for (const auto& [name, value] : spec.headers) {
    if (value.find_first_of("\r\n\0", 0, 3) != std::string::npos) Fail("header value", value);
    if (name.empty()) Fail("empty header name", name);
  }
  if (spec.headers.size() > 100) Fail("too many headers", std::to_string(spec.headers.size()));
  for (const auto& timeout : {spec.wait_timeout, spec.request_timeout}) {
    if (timeout.has_value() &&
        (*timeout < absl::Milliseconds(1) || *timeout > absl::Hours(1))) {
      Fail("timeout out of range", absl::FormatDuration(*timeout));
    }
  }
  if (spec.max_redirects == 0 || spec.max_redirects > 50) Fail("max_redirects", request.url());
  if (request.idempotent() && !spec.replayable) Fail("idempotent but not replayable", "");

  // Normalization is a fixed point: validating the normalized URL gives the
  // same URL and pool. Otherwise a redirect back to the "same" URL, or a
  // config pool key copied from FetchResponse.pool, could land elsewhere.
  FetchRequest again;
  again.set_method(spec.method);
  again.set_url(spec.url);
  absl::StatusOr<fetchpool::FetchSpec> second = fetchpool::ValidateFetchRequest(again);
  if (!second.ok()) Fail("normalized url is refused", spec.url + " -> " + second.status().ToString());
  if (second->url != spec.url) Fail("url normalization not idempotent", spec.url + " -> " + second->url);
  if (second->pool_key != key) Fail("pool_key not stable", key + " -> " + second->pool_key);
  absl::StatusOr<std::string> normalized_key = fetchpool::NormalizePoolKey(key);
  if (!normalized_key.ok() || *normalized_key != key) {
    Fail("pool_key does not normalize to itself",
         key + " -> " + (normalized_key.ok() ? *normalized_key : normalized_key.status().ToString()));
  }
}

}  // namespace

// Proto3 string fields must be UTF-8; mutated binary inputs often are not,
// and protobuf would log every refusal, which slows fuzzing a lot.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int,
                                     const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FetchRequest request;
  if (size > 0 && data[0] == 't') {
    google::protobuf::TextFormat::Parser parser;
    parser.AllowPartialMessage(true);
    // Silence the parser's error log: most mutated text does not parse.
    struct Quiet : google::protobuf::io::ErrorCollector {
      void AddError(int, int, const std::string&) override {}
    } quiet;
    parser.RecordErrorsTo(&quiet);
    std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (!parser.ParseFromString(text, &request)) return 0;
  } else if (size > 0 && data[0] == 'b') {
    if (!request.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  } else {
    FuzzedDataProvider fdp(data, size);
    request = BuildRequest(fdp);
  }

  absl::StatusOr<fetchpool::FetchSpec> spec = fetchpool::ValidateFetchRequest(request);
  if (spec.ok()) {
    CheckSpec(request, *spec);
  } else {
    CheckError(spec.status());
  }
  // The config file's path to the same parser.
  absl::StatusOr<std::string> key = fetchpool::NormalizePoolKey(request.url());
  if (!key.ok()) CheckError(key.status());
  return 0;
}
