#include "server/fetch_response.h"

#include "common/reason.h"

namespace fetchpool {
namespace {

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

}  // namespace

google::protobuf::ArenaOptions ArenaOptionsWithFirstBlock(char* block, size_t size) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = size;
  return options;
}

void FillFetchResponse(FetchResult result, v1::FetchResponse* out) {
  out->set_status(result.status);
  out->mutable_headers()->Reserve(static_cast<int>(result.headers.size()));
  for (auto& [name, value] : result.headers) {
    v1::Header* h = out->add_headers();
    h->set_name(std::move(name));
    h->set_value(std::move(value));
  }
  out->set_body(std::move(result.body));
  out->set_connection_reused(result.connection_reused);
  v1::FetchTiming* t = out->mutable_timing();
  SetDuration(result.timing.queue_wait, t->mutable_queue_wait());
  SetDuration(result.timing.dns, t->mutable_dns());
  SetDuration(result.timing.connect, t->mutable_connect());
  SetDuration(result.timing.tls, t->mutable_tls());
  SetDuration(result.timing.first_byte, t->mutable_first_byte());
  SetDuration(result.timing.total, t->mutable_total());
  out->set_pool(std::move(result.pool));
  out->set_remote_address(std::move(result.remote_address));
  out->set_http_version(std::move(result.http_version));
  out->set_redirects(result.redirects);
  out->set_effective_url(std::move(result.effective_url));
  out->set_attempts(result.attempts);
  out->set_id(std::move(result.id));
  out->set_trace_id(std::move(result.trace_id));
}

void FillFetchError(const absl::Status& status, v1::FetchResponse* out) {
  v1::FetchError* error = out->mutable_error();
  error->set_code(static_cast<int32_t>(status.code()));
  error->set_reason(ReasonOf(status));
  error->set_message(std::string(status.message()));
}

}  // namespace fetchpool
