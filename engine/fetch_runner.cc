#include "engine/fetch_runner.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "engine/curl_errors.h"
#include "engine/fetch_decisions.h"
#include "engine/http_exchange.h"

namespace fetchpool {
namespace {
// Less than this left in the buffer budget refuses a new fetch up front.
constexpr uint64_t kMinStartBudget = 64 * 1024;
}  // namespace

bool FetchOp::OnBodyOverLimit() { return runner->RefuseOversizedBody(this); }

FetchRunner::~FetchRunner() {
  // Whatever is left (a loop that stopped) is answered, here or by
  // ~FetchOp; the connections were closed with the pools.
  for (auto& [id, op] : ops_) op->stream = nullptr;
  for (auto& [done, result] : answers_) done(std::move(result));
}

void FetchRunner::DeliverAnswers() {
  // A callback may start fetches that answer at once (a refusal), adding
  // to the list: swap it out first, and loop until it stays empty.
  while (!answers_.empty()) {
    std::vector<std::pair<FetchCallback, absl::StatusOr<FetchResult>>> batch;
    batch.swap(answers_);
    for (auto& [done, result] : batch) done(std::move(result));
  }
}

FetchOp* FetchRunner::Find(uint64_t id) {
  auto it = ops_.find(id);
  return it == ops_.end() ? nullptr : it->second.get();
}

OnDeadline FetchRunner::PolicyFor(const FetchOp& op) const {
  return op.spec.on_deadline.value_or(op.fetch->on_deadline);
}

EventLoop::TimerId FetchRunner::TimerFor(uint64_t id, absl::Time when,
                                         void (FetchRunner::*fn)(FetchOp*)) {
  return loop_.AddTimer(when, [this, id, fn] {
    FetchOp* op = Find(id);
    if (op == nullptr) return;
    op->deadline_timer = 0;
    (this->*fn)(op);
  });
}

void FetchRunner::Start(std::unique_ptr<FetchOp> owned) {
  owned->result.id = owned->spec.id;
  owned->result.trace_id = owned->spec.trace_id;
  Admit(std::move(owned));
}

void FetchRunner::Adopt(std::unique_ptr<FetchOp> owned) { Admit(std::move(owned)); }

void FetchRunner::Admit(std::unique_ptr<FetchOp> owned) {
  loop_.AssertInLoopThread("FetchRunner");
  FetchOp* op = owned.get();
  op->runner = this;
  ops_.emplace(op->id, std::move(owned));
  if (!taking_fetches_) {
    Answer(op, MakeError(Reason::kShuttingDown, "fetchpool is shutting down"));
    Finish(op);
    return;
  }
  if (!op->refused.ok()) {  // its egress profile refused it (Engine::Fetch)
    Answer(op, op->refused);
    Finish(op);
    return;
  }
  // A budget already spent refuses new fetches at once rather than letting
  // them take a connection only to fail at their first body byte. (A fetch
  // that moved here on a redirect was checked where it started.)
  if (!op->moved && budget_ != nullptr && budget_->Exhausted(kMinStartBudget)) {
    Answer(op, BudgetExceeded(*op, /*at_start=*/true));
    Finish(op);
    return;
  }
  AcquireConnection(op);
}

void FetchRunner::AcquireConnection(FetchOp* op, HostPool::AcquireOptions options) {
  absl::Status error;
  PoolEntry* entry = pools_.FindOrCreate(op->spec.pool_key, op->spec.caller, &error);
  if (entry == nullptr) {
    Answer(op, error);
    Finish(op);
    return;
  }
  // A replay keeps the settings the fetch started with; a redirect to
  // another host takes that host's.
  if (op->pool != entry || op->fetch == nullptr) op->fetch = entry->fetch;
  op->pool = entry;
  HostPool& pool = *entry->pool;
  const absl::Time now = loop_.clock().Now();
  const absl::Duration wait = op->spec.wait_timeout.value_or(pool.config().wait_timeout);
  const absl::Time wait_deadline = std::min(op->spec.deadline, now + wait);
  const HostPool::WaiterId waiter = pool.Acquire(
      wait_deadline,
      [this, id = op->id](absl::StatusOr<Lease> lease) { OnLease(id, std::move(lease)); },
      options);
  // A non-zero id means the callback has not run, so `op` is still alive.
  if (waiter != 0) op->waiter = waiter;
}

void FetchRunner::OnLease(uint64_t id, absl::StatusOr<Lease> lease) {
  FetchOp* op = Find(id);
  if (op == nullptr) {
    // Cannot happen (a fetch ends only after its lease callback ran); a
    // lease nobody will use must not strand its slot all the same.
    if (lease.ok()) lease->slot->pool().Release(lease->slot, ExchangeEnd::kAborted);
    return;
  }
  op->waiter = 0;
  if (!lease.ok()) {
    Answer(op, lease.status());
    Finish(op);
    return;
  }
  CurlConnection* conn = static_cast<CurlConnection*>(&lease->slot->connection());
  if (!lease->fresh) {
    absl::Status denied = CheckReusedConnection(*op, *conn);
    if (!denied.ok()) {
      Answer(op, denied);
      lease->slot->pool().ReturnUnused(lease->slot);
      Finish(op);
      return;
    }
  }
  op->stream = conn->AcquireStream();
  op->fresh_connection = lease->fresh;
  op->shared_connection = lease->shared;
  op->result.timing.queue_wait += lease->waited;
  op->leased_at = loop_.clock().Now();
  StartTransfer(op);
}

// Pooled connections are checked when leased, not kept apart by profile
// (the pool key stays scheme://host:port): one pool per origin keeps the
// connection cap, FIFO queue and stats per host exact, and callers under
// different profiles share warm connections whenever their profiles allow
// the address. The check costs one comparison per reuse; a denied fetch
// fails DESTINATION_DENIED (the name resolved, when the connection was
// opened, to an address this caller may not reach) and the connection goes
// back untouched, never a byte written on it.
absl::Status FetchRunner::CheckReusedConnection(const FetchOp& op,
                                                const CurlConnection& conn) const {
  sockaddr_storage remote;
  // No open socket: the transfer connects anew, checked in OnOpenSocket.
  if (!conn.remote_address(&remote)) return absl::OkStatus();
  const sockaddr* addr = reinterpret_cast<const sockaddr*>(&remote);
  if (op.profile != nullptr && op.profile->AllowsAddress(addr)) return absl::OkStatus();
  return MakeError(Reason::kDestinationDenied,
                   absl::StrCat("connection to ", op.spec.pool_key, " refused by policy: ",
                                op.profile != nullptr ? op.profile->Explain(addr)
                                                      : "no egress profile",
                                " (a pooled connection opened for another caller)"));
}

void FetchRunner::StartTransfer(FetchOp* op) {
  const FetchConfig& cfg = *op->fetch;
  const FetchSpec& spec = op->spec;
  op->EnterPhase(FetchOp::Phase::kTransferring);
  op->result.pool = spec.pool_key;
  op->result.effective_url = spec.url;
  ExchangeState& exchange = op->exchange;
  exchange.result = &op->result;
  if (!op->result.buffer.attached()) op->result.buffer = BufferReservation(budget_);
  exchange.oversize = op;
  exchange.body_limit = spec.max_response_bytes == 0
                            ? cfg.max_response_bytes
                            : std::min<uint64_t>(spec.max_response_bytes, cfg.max_response_bytes);
  op->stream->set_fetch_id(op->id);
  op->stream->set_profile(op->profile.get());
  ConfigureExchange(*op->stream, op->shared_connection, spec, cfg, &exchange, &op->header_list);

  // The transfer ends by the call's deadline, and by request_timeout after
  // the lease when the caller set one. Our own timer enforces it so the
  // abort-or-drain policy decides what happens to the connection.
  op->transfer_deadline = spec.deadline;
  if (spec.request_timeout.has_value()) {
    op->transfer_deadline = std::min(op->transfer_deadline, op->leased_at + *spec.request_timeout);
  }
  // A caller that set neither gets max_request_time from arrival, so an
  // origin cannot hold the fetch (and its connection) forever. A caller's
  // own deadline or request_timeout, even a longer one, is theirs to choose.
  if (CappedByMaxRequestTime(*op, cfg)) {
    op->transfer_deadline = op->arrived + cfg.max_request_time;
  }
  if (op->transfer_deadline != absl::InfiniteFuture()) {
    op->deadline_timer =
        TimerFor(op->id, op->transfer_deadline, &FetchRunner::OnTransferDeadline);
  }
  op->request_may_have_been_sent = true;
  absl::Status started = op->stream->StartTransfer();
  if (!started.ok()) {
    Answer(op, MakeError(Reason::kInternal, started.message()));
    Release(op, ExchangeEnd::kFailed);
    Finish(op);
  }
}

void FetchRunner::OnTransferDone(CurlStream& stream, CURLcode code) {
  loop_.AssertInLoopThread("FetchRunner");
  FetchOp* op = Find(stream.fetch_id());
  if (op == nullptr || op->stream != &stream) {
    std::fprintf(stderr, "fetchpool: a transfer ended with no fetch on its stream\n");
    std::abort();
  }
  CancelDeadlineTimer(op);
  ExchangeReport report = ExamineExchange(stream, code, op->exchange, op->spec,
                                          op->fresh_connection, op->attempts);
  CurlConnection& conn = stream.connection();
  HostPool& pool = *op->pool->pool;
  if (report.connection_replaced) pool.ConnectionReplaced(&conn.slot());
  // HTTP/2: no new stream goes on this connection once the origin sent
  // GOAWAY (told to the pool when curl returned, CurlConnection::OnGoAway;
  // again here in case this transfer ended in the same curl call), or once
  // curl would not put a stream on it: it took the connection as closing
  // (a refused stream makes it so) or full (the origin's stream limit is
  // below the pool's: HostPool has no call to lower one slot's streams, so
  // the connection goes away rather than take streams curl refuses).
  if ((conn.goaway_seen() || stream.own_connection_refused()) && !conn.slot().going_away()) {
    pool.MarkGoingAway(&conn.slot());
  }
  if (!op->exchange.keep_alive_header.empty()) {
    if (auto hint = ParseKeepAliveTimeout(op->exchange.keep_alive_header)) {
      pool.ApplyKeepAliveHint(*hint);
    }
  }
  FetchTimings& t = op->result.timing;
  t.dns = report.timings.dns;
  t.connect = report.timings.connect;
  t.tls = report.timings.tls;
  t.first_byte = report.timings.first_byte;
  op->result.remote_address = report.remote_address;
  op->result.connection_reused = report.attempt.reused;
  pools_.NoteRemote(op->pool, report.remote_address);
  stream.FinishTransfer();
  AttemptOutcome& attempt = report.attempt;
  attempt.socket_open = conn.has_socket();

  if (op->phase() == FetchOp::Phase::kDraining) {
    Release(op, ConnectionEnd(attempt, /*draining=*/true));
    Finish(op);
    return;
  }
  if (ShouldReplay(attempt)) {
    // A stream the origin never processed (GOAWAY, or its stream limit)
    // went to a connection the pool no longer leases: the first time it
    // asks again like any fetch (a free stream, or one of a connection
    // being opened), rather than a connection of its own as a replay after
    // a dead connection does; if it is refused again, it gets one (as the
    // first stream of a connection, it is processed).
    HostPool::AcquireOptions options;
    options.refused_stream = attempt.never_processed;
    options.replay = !(attempt.never_processed && op->attempts == 1);
    // kStale, or kAborted for a stream the origin never processed (only
    // that stream ends).
    Release(op, ConnectionEnd(attempt, /*draining=*/false));
    ++op->attempts;
    op->ResetForNextAttempt();
    op->EnterPhase(FetchOp::Phase::kWaiting);
    AcquireConnection(op, options);
    return;
  }
  Release(op, ConnectionEnd(attempt, /*draining=*/false));
  if (op->exchange.over_budget) {
    Answer(op, BudgetExceeded(*op, /*at_start=*/false));
    Finish(op);
    return;
  }
  if (!attempt.ok) {
    Answer(op, TransferFailureToStatus(report.failure));
    Finish(op);
    return;
  }
  if (op->spec.follow_redirects && IsRedirect(op->result.status)) {
    FollowRedirect(op);
    return;
  }
  Answer(op, std::move(op->result));
  Finish(op);
}

void FetchRunner::FollowRedirect(FetchOp* op) {
  // Across origins, Authorization, Cookie, Proxy-Authorization and the
  // egress profile's own credential headers are dropped.
  static const std::vector<std::string> kNoExtraCredentials;
  RedirectStep step = DecideRedirect(
      op->spec, op->result.status, op->result.headers, op->result.redirects,
      op->profile != nullptr ? op->profile->credential_headers() : kNoExtraCredentials);
  switch (step.kind) {
    case RedirectStep::Kind::kAnswer:  // a 3xx without Location is just a response
      Answer(op, std::move(op->result));
      Finish(op);
      return;
    case RedirectStep::Kind::kError:
      Answer(op, step.error);
      Finish(op);
      return;
    case RedirectStep::Kind::kFollow:
      break;
  }
  // Each hop's host goes through the profile's host patterns again; its
  // address is checked when the hop connects (or leases a pooled connection).
  if (op->profile != nullptr) {
    absl::Status host_ok = op->profile->CheckHost(HostOfPoolKey(step.pool_key));
    if (!host_ok.ok()) {
      Answer(op, MakeError(Reason::kDestinationDenied,
                           absl::StrCat("redirect to ", step.url, " refused: ",
                                        host_ok.message())));
      Finish(op);
      return;
    }
  }
  op->spec.url = std::move(step.url);
  op->spec.pool_key = std::move(step.pool_key);
  op->spec.method = std::move(step.method);
  if (step.drop_body) op->spec.body.clear();
  if (step.headers_changed) {
    // Credentials or body headers dropped: curl's copy is rebuilt from the
    // new list by the next ConfigureExchange.
    op->spec.headers = std::move(step.headers);
    if (op->header_list != nullptr) curl_slist_free_all(op->header_list);
    op->header_list = nullptr;
  }
  op->ResetForNextAttempt();
  ++op->result.redirects;
  op->EnterPhase(FetchOp::Phase::kWaiting);
  const uint32_t owner = router_.LoopFor(op->spec.pool_key);
  if (owner == index_) {
    AcquireConnection(op);
    return;
  }
  // The new host's pool lives on another loop: the fetch goes there, with
  // no lease, no timer and no pool of this loop.
  auto it = ops_.find(op->id);
  std::unique_ptr<FetchOp> owned = std::move(it->second);
  ops_.erase(it);
  op->pool = nullptr;
  op->moved = true;
  moved_to_[op->id] = owner;
  router_.Migrate(owner, std::move(owned));
}

bool FetchRunner::CappedByMaxRequestTime(const FetchOp& op, const FetchConfig& cfg) {
  return op.spec.deadline == absl::InfiniteFuture() && !op.spec.request_timeout.has_value() &&
         cfg.max_request_time > absl::ZeroDuration();
}

absl::Status FetchRunner::BudgetExceeded(const FetchOp& op, bool at_start) {
  budget_->CountRefusal();
  return MakeError(
      Reason::kBufferBudget,
      absl::StrCat("fetchpool holds ", budget_->used(), " bytes of responses, its limit is ",
                   budget_->limit(), " (--max_buffered_bytes); ",
                   at_start ? "refused " : "failed after ",
                   at_start ? "" : absl::StrCat(op.exchange.bytes_received, " body bytes of "),
                   op.spec.url, "; retry later or read answers faster"));
}

void FetchRunner::OnTransferDeadline(FetchOp* op) {
  if (op->phase() != FetchOp::Phase::kTransferring) return;
  const bool call_deadline = op->transfer_deadline >= op->spec.deadline;
  const bool capped = CappedByMaxRequestTime(*op, *op->fetch);
  const std::string which =
      capped ? absl::StrCat("max_request_time (",
                            absl::FormatDuration(op->fetch->max_request_time),
                            ", --max_request_time: the cap when the caller sets no deadline and "
                            "no request_timeout)")
             : (call_deadline ? "the call's deadline" : "request_timeout");
  absl::Status why = MakeError(
      Reason::kDeadlineExceeded,
      absl::StrCat(which, " passed while fetching ", op->spec.url, " after ",
                   op->exchange.bytes_received, " body bytes (",
                   op->exchange.any_response_byte ? "response started" : "no response yet", ")"));
  if (PolicyFor(*op) == OnDeadline::kAbort) {
    Answer(op, why);
    AbortTransfer(op);
    return;
  }
  BeginDrain(op, why);
}

void FetchRunner::BeginDrain(FetchOp* op, absl::Status answer) {
  CancelDeadlineTimer(op);
  Answer(op, std::move(answer));
  op->EnterPhase(FetchOp::Phase::kDraining);
  const FetchConfig& cfg = *op->fetch;
  // The body seen so far no longer matters; what is left must fit the budget.
  op->exchange.draining = true;
  op->exchange.body_limit = op->exchange.bytes_received + cfg.drain_max_bytes;
  op->result.body = std::string();
  op->result.buffer.Reset();
  op->deadline_timer = TimerFor(op->id, loop_.clock().Now() + cfg.drain_timeout,
                                &FetchRunner::AbortTransfer);
}

bool FetchRunner::RefuseOversizedBody(FetchOp* op) {
  const FetchConfig& cfg = *op->fetch;
  const ExchangeState& x = op->exchange;
  const uint64_t left = x.declared_length > x.bytes_received ? x.declared_length - x.bytes_received : 0;
  // Draining keeps the connection (no TIME_WAIT, no new handshake) when the
  // rest of the body is cheap enough to read and throw away.
  if (PolicyFor(*op) == OnDeadline::kDrain && left <= cfg.drain_max_bytes) {
    BeginDrain(op, MakeError(Reason::kResponseTooLarge,
                             absl::StrCat("response from ", op->spec.url, " exceeds the limit of ",
                                          x.body_limit, " bytes")));
    return true;
  }
  return false;  // curl aborts the transfer; OnTransferDone answers
}

void FetchRunner::AbortTransfer(FetchOp* op) {
  CancelDeadlineTimer(op);
  if (op->stream != nullptr) {
    // Mid-transfer: curl closes an HTTP/1.1 connection, resets an HTTP/2 stream.
    op->stream->FinishTransfer();
    Release(op, ExchangeEnd::kAborted);
  }
  Finish(op);
}

void FetchRunner::Release(FetchOp* op, ExchangeEnd end) {
  if (op->stream == nullptr) return;
  CurlConnection& conn = op->stream->connection();
  Slot* slot = &conn.slot();
  // The stream is kept for the connection's next transfer before the pool
  // decides (it may hand the slot on, or close it).
  conn.ReleaseStream(op->stream);
  op->stream = nullptr;
  slot->pool().Release(slot, end);
}

void FetchRunner::Cancel(uint64_t id) {
  loop_.AssertInLoopThread("FetchRunner");
  FetchOp* op = Find(id);
  if (op == nullptr) {
    auto moved = moved_to_.find(id);
    if (moved != moved_to_.end()) router_.ForwardCancel(moved->second, id);
    return;
  }
  // gRPC cancels a call whose deadline passed, often before our own
  // deadline timer fires: that is a deadline, not a caller's cancel.
  const bool deadline_passed = op->spec.deadline <= loop_.clock().Now();
  absl::Status cancelled =
      deadline_passed
          ? MakeError(Reason::kDeadlineExceeded,
                      absl::StrCat("the call's deadline passed while fetching ", op->spec.url))
          : MakeError(Reason::kCancelled, "the call was cancelled by the caller");
  switch (op->phase()) {
    case FetchOp::Phase::kWaiting:
      // Runs OnLease with CANCELLED, which finishes op.
      if (op->waiter != 0) op->pool->pool->Cancel(op->waiter);
      return;
    case FetchOp::Phase::kTransferring:
      if (PolicyFor(*op) == OnDeadline::kAbort) {
        Answer(op, cancelled);
        AbortTransfer(op);
      } else {
        BeginDrain(op, cancelled);
      }
      return;
    case FetchOp::Phase::kDraining:
    case FetchOp::Phase::kDone:
      return;  // already answered
  }
}

void FetchRunner::AbortAll(const absl::Status& why) {
  loop_.AssertInLoopThread("FetchRunner");
  std::vector<uint64_t> ids;
  ids.reserve(ops_.size());
  for (auto& [id, op] : ops_) ids.push_back(id);
  for (uint64_t id : ids) {
    FetchOp* op = Find(id);
    if (op == nullptr) continue;
    Answer(op, why);
    AbortTransfer(op);
  }
}

void FetchRunner::Answer(FetchOp* op, absl::StatusOr<FetchResult> result) {
  if (op->answered) return;
  op->answered = true;
  if (!result.ok()) {
    result = KeepNeverSentPromise(result.status(), op->request_may_have_been_sent);
  }
  const absl::Duration took = loop_.clock().Now() - op->arrived;
  if (op->pool != nullptr) op->pool->pool->RecordFetchEnd(took, result.status());
  if (result.ok()) {
    result->timing.total = took;
    result->attempts = op->attempts;
  }
  // Delivered together at the end of this loop iteration (DeliverAnswers).
  answers_.emplace_back(std::move(op->done), std::move(result));
}

void FetchRunner::CancelDeadlineTimer(FetchOp* op) {
  if (op->deadline_timer == 0) return;
  loop_.CancelTimer(op->deadline_timer);
  op->deadline_timer = 0;
}

void FetchRunner::Finish(FetchOp* op) {
  CancelDeadlineTimer(op);
  op->EnterPhase(FetchOp::Phase::kDone);
  const uint64_t id = op->id;
  const bool moved = op->moved;
  ops_.erase(id);  // destroys op
  if (moved) router_.ForgetMoved(id);
}

}  // namespace fetchpool
