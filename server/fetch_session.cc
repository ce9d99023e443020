#include "server/fetch_session.h"

#include <utility>

#include "server/fetch_response.h"
#include "server/request_validation.h"

namespace fetchpool {

void FetchSession::Start(v1::FetchRequest* request, absl::Time deadline) {
  absl::StatusOr<FetchSpec> spec = ValidateFetchRequestTakingBody(request);
  if (!spec.ok()) {
    scope_.Count("", spec.status());
    port_->Finish(spec.status());
    return;
  }
  spec->caller = scope_.caller;
  TraceFetch(scope_.trace, &*spec);
  trace_id_ = spec->trace_id;
  if (absl::Status admitted = scope_.BeginFetch(); !admitted.ok()) {
    scope_.Count(spec->pool_key, admitted, trace_id_);
    port_->Finish(admitted);
    return;
  }
  pool_ = spec->pool_key;
  spec->deadline = deadline;
  // The callback may run (and finish the call) before Fetch returns; the
  // session stays alive until Start has returned all the same.
  const Engine::FetchId id =
      engine_.Fetch(*std::move(spec), [this](absl::StatusOr<FetchResult> result) {
        Complete(std::move(result));
      });
  bool cancel;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fetch_id_ = id;
    cancel = cancelled_;  // OnCancel came before the id was known
  }
  if (cancel) engine_.Cancel(id);
}

void FetchSession::OnCancel() {
  Engine::FetchId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    id = fetch_id_;
  }
  if (id != 0) engine_.Cancel(id);  // a finished fetch ignores it
}

void FetchSession::Complete(absl::StatusOr<FetchResult> result) {
  scope_.EndFetch(pool_, result.status(), trace_id_);
  if (!result.ok()) {
    port_->Finish(result.status());
    return;
  }
  buffer_ = std::move(result->buffer);
  FillFetchResponse(*std::move(result), response_);
  port_->Finish(absl::OkStatus());
}

}  // namespace fetchpool
