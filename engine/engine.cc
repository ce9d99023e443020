#include "engine/engine.h"

#include <curl/curl.h>

#include <atomic>
#include <future>
#include <cstring>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/curl_connection.h"
#include "engine/curl_errors.h"
#include "engine/event_loop.h"
#include "engine/fetch_op.h"
#include "engine/task_thread.h"
#include "engine/time_wait_counter.h"
#include "engine/url.h"
#include "pool/reason.h"

namespace fetchpool {

const HostPoolConfig& EngineConfig::ForHost(const std::string& pool_key) const {
  auto it = per_host.find(pool_key);
  return it == per_host.end() ? defaults : it->second;
}

// A host's pool plus the loop timer that drives its deadlines.
struct PoolEntry {
  std::unique_ptr<HostPool> pool;
  // Addresses this pool connected to, for the kernel's TIME_WAIT count.
  absl::flat_hash_set<std::string> remotes;
  EventLoop::TimerId timer = 0;
  absl::Time timer_at = absl::InfiniteFuture();
};

namespace {

constexpr absl::Duration kEvictionSweepInterval = absl::Seconds(5);
// How old the kernel's TIME_WAIT count in Stats may be.
constexpr absl::Duration kTimeWaitRecount = absl::Seconds(1);
// A name can resolve to many addresses; remembering a few per pool is
// enough to find its TIME_WAIT sockets without unbounded growth.
constexpr size_t kMaxRemotesPerPool = 64;

int OnResolverStart(void*, void*, void* userp) {
  auto* op = static_cast<FetchOp*>(userp);
  ++op->conn->slot().pool().counters().dns_lookups_total;
  return 0;
}

absl::Duration MicrosInfo(CURL* easy, CURLINFO info) {
  curl_off_t us = 0;
  curl_easy_getinfo(easy, info, &us);
  return absl::Microseconds(us);
}

// "timeout=5, max=100" -> 5 s.
absl::optional<absl::Duration> ParseKeepAliveTimeout(absl::string_view value) {
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, "timeout=")) {
      int64_t seconds = 0;
      if (absl::SimpleAtoi(part, &seconds) && seconds >= 0) return absl::Seconds(seconds);
    }
  }
  return absl::nullopt;
}

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

class EngineImpl final : public CurlConnectionOwner, public Transport {
 public:
  EngineImpl(EngineConfig config, DestinationPolicy policy)
      : config_(std::move(config)), policy_(std::move(policy)), loop_(MonotonicClock::Get()) {
    loop_.SetBeforeSleepHook([this] { RescheduleDirtyPools(); });
    thread_ = std::thread([this] {
      ScheduleEvictionSweep();
      loop_.Run();
    });
  }

  ~EngineImpl() override {
    Shutdown(absl::ZeroDuration());
  }

  // ---- public API (any thread) ----

  uint64_t Fetch(FetchSpec spec, FetchCallback done) {
    const uint64_t id = next_id_.fetch_add(1) + 1;
    auto op = std::make_unique<FetchOp>();
    op->engine = this;
    op->id = id;
    op->spec = std::move(spec);
    op->done = std::move(done);
    op->arrived = MonotonicClock::Get().Now();
    loop_.Post([this, op = std::move(op)]() mutable { StartFetch(std::move(op)); });
    return id;
  }

  void Cancel(uint64_t id) {
    loop_.Post([this, id] { CancelFetch(id); });
  }

  void GetStats(std::string pool_key, absl::AnyInvocable<void(Engine::StatsResult)> done) {
    loop_.Post([this, pool_key = std::move(pool_key), done = std::move(done)]() mutable {
      // The snapshot is taken here; what callers build from it (protos of
      // 10,000 pools) is built off the loop.
      stats_delivery_.Post([done = std::move(done), result = CollectStats(pool_key)]() mutable {
        done(std::move(result));
      });
    });
  }

  void RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) {
    loop_.Post([this, delay, fn = std::move(fn)]() mutable {
      loop_.AddTimer(loop_.clock().Now() + delay, std::move(fn));
    });
  }

  void RunOnLoopAndWait(absl::AnyInvocable<void()> fn) {
    if (loop_.InLoopThread()) {
      fn();
      return;
    }
    // std::promise rather than absl::Notification: see EventLoop::post_mu_.
    std::promise<void> finished;
    loop_.Post([&] {
      fn();
      finished.set_value();
    });
    finished.get_future().wait();
  }

  void Shutdown(absl::Duration grace) {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (stopped_) return;
    RunOnLoopAndWait([this] { draining_ = true; });
    // Let queued and running fetches finish within the grace period.
    const absl::Time give_up = absl::Now() + grace;
    while (absl::Now() < give_up) {
      bool idle = false;
      RunOnLoopAndWait([&] { idle = ops_.empty(); });
      if (idle) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    RunOnLoopAndWait([this] { TearDown(); });
    loop_.Stop();
    thread_.join();
    stats_delivery_.Stop();  // delivers the snapshots already taken
    stopped_ = true;
  }

  absl::Status CheckInvariants() {
    absl::Status result;
    RunOnLoopAndWait([&] {
      for (auto& [key, entry] : pools_) {
        absl::Status s = entry->pool->CheckInvariants();
        if (!s.ok()) {
          result = s;
          return;
        }
      }
    });
    return result;
  }

  // ---- CurlConnectionOwner / Transport (loop thread) ----

  EventLoop& loop() override { return loop_; }
  CurlMulti& multi() override { return curl_multi_; }
  const DestinationPolicy& policy() override { return policy_; }

  std::unique_ptr<Connection> NewConnection(Slot& slot) override {
    return std::make_unique<CurlConnection>(*this, slot);
  }

  void OnConnected(CurlConnection& conn) override {
    Slot& slot = conn.slot();
    if (slot.state() == Slot::State::kConnecting) {
      slot.pool().MarkConnected(&slot);
      MarkDirty(slot.pool());
    }
  }

  void OnIdleConnectionLost(CurlConnection& conn) override {
    HostPool& pool = conn.slot().pool();
    pool.OnIdleConnectionLost(&conn.slot());  // destroys conn
    MarkDirty(pool);
  }

  void OnTransferDone(CurlConnection& conn, CURLcode code) override;

 private:
  // ---- fetch lifecycle (loop thread) ----
  void StartFetch(std::unique_ptr<FetchOp> owned);
  // `fresh`: a replay, which must not land on another idle connection that
  // may be just as stale.
  void AcquireConnection(FetchOp* op, bool fresh = false);
  void OnLease(FetchOp* op, absl::StatusOr<Lease> lease);
  void StartTransfer(FetchOp* op);
  void OnTransferDeadline(FetchOp* op, absl::Status why);
  void AbortTransfer(FetchOp* op, CloseReason reason);
  void BeginDrain(FetchOp* op, absl::Status answer);
  bool FollowRedirect(FetchOp* op);
  void CancelFetch(uint64_t id);
  void Answer(FetchOp* op, absl::StatusOr<FetchResult> result);
  void Finish(FetchOp* op);
  void ReleaseSlot(FetchOp* op, bool reusable, CloseReason reason);
  void CancelDeadlineTimer(FetchOp* op);

  static size_t OnHeaderLine(char* buffer, size_t size, size_t count, void* userdata);
  static size_t OnBodyBytes(char* buffer, size_t size, size_t count, void* userdata);
  // The response outgrew the caller's limit: answer RESOURCE_EXHAUSTED and
  // drain (true: keep reading) or let curl abort the transfer (false).
  bool RefuseOversizedBody(FetchOp* op);

  // ---- pools (loop thread) ----
  PoolEntry* FindOrCreatePool(const std::string& key, absl::Status* error);
  void MarkDirty(HostPool& pool) { dirty_.insert(&pool); }
  void RescheduleDirtyPools();
  void ScheduleEvictionSweep();
  void EvictIdlePools();
  Engine::StatsResult CollectStats(const std::string& pool_key);
  void TearDown();

  OnDeadline PolicyFor(const FetchOp& op) const {
    return op.spec.on_deadline.value_or(op.pool->pool->config().on_deadline);
  }

  const EngineConfig config_;
  const DestinationPolicy policy_;
  EventLoop loop_;
  // Every transfer runs here. Declared before the pools, so it outlives
  // every connection (TearDown closes them; pools_ goes first regardless).
  CurlMulti curl_multi_{loop_};
  std::thread thread_;
  TaskThread stats_delivery_;  // runs GetStats callbacks
  std::atomic<uint64_t> next_id_{0};

  // Serializes Shutdown() callers.
  std::mutex shutdown_mu_;
  bool stopped_ = false;  // guarded by shutdown_mu_

  // Loop-thread state.
  bool draining_ = false;
  absl::flat_hash_map<std::string, std::unique_ptr<PoolEntry>> pools_;
  absl::flat_hash_map<const HostPool*, PoolEntry*> entry_of_;
  absl::flat_hash_set<HostPool*> dirty_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<FetchOp>> ops_;
  // The last TIME_WAIT count by remote address (CollectStats) and when.
  absl::StatusOr<absl::flat_hash_map<std::string, uint32_t>> time_wait_ =
      absl::UnavailableError("not counted yet");
  absl::Time time_wait_counted_at_ = absl::InfinitePast();
};

// ---------------------------------------------------------------------------
// Pools

PoolEntry* EngineImpl::FindOrCreatePool(const std::string& key, absl::Status* error) {
  auto it = pools_.find(key);
  if (it != pools_.end()) return it->second.get();
  if (pools_.size() >= config_.max_pools) {
    EvictIdlePools();
    if (pools_.size() >= config_.max_pools) {
      *error = MakeError(Reason::kQueueFull,
                         absl::StrCat("fetchpool holds ", pools_.size(),
                                      " host pools, its limit (--max_pools); cannot add ", key));
      return nullptr;
    }
  }
  auto entry = std::make_unique<PoolEntry>();
  entry->pool = std::make_unique<HostPool>(key, config_.ForHost(key), loop_.clock(), *this);
  PoolEntry* raw = entry.get();
  entry_of_[raw->pool.get()] = raw;
  pools_.emplace(key, std::move(entry));
  if (config_.log_event) {
    const HostPoolConfig& c = raw->pool->config();
    config_.log_event("pool_created", {{"pool", key},
                                       {"max_connections", absl::StrCat(c.max_connections)},
                                       {"pools", absl::StrCat(pools_.size())}});
  }
  return raw;
}

void EngineImpl::RescheduleDirtyPools() {
  for (HostPool* pool : dirty_) {
    auto it = entry_of_.find(pool);
    if (it == entry_of_.end()) continue;
    PoolEntry* entry = it->second;
    const absl::Time next = pool->NextDeadline();
    if (next == entry->timer_at) continue;
    if (entry->timer != 0) loop_.CancelTimer(entry->timer);
    entry->timer = 0;
    entry->timer_at = next;
    if (next == absl::InfiniteFuture()) continue;
    entry->timer = loop_.AddTimer(next, [this, entry] {
      entry->timer = 0;
      entry->timer_at = absl::InfiniteFuture();
      entry->pool->OnTimer();
      MarkDirty(*entry->pool);
    });
  }
  dirty_.clear();
}

void EngineImpl::ScheduleEvictionSweep() {
  loop_.AddTimer(loop_.clock().Now() + kEvictionSweepInterval, [this] {
    EvictIdlePools();
    ScheduleEvictionSweep();
  });
}

void EngineImpl::EvictIdlePools() {
  const absl::Time now = loop_.clock().Now();
  for (auto it = pools_.begin(); it != pools_.end();) {
    auto current = it++;
    PoolEntry* entry = current->second.get();
    HostPool* pool = entry->pool.get();
    pool->OnTimer();  // idle connections past their time close first
    if (!pool->Empty() || now - pool->last_used() < config_.evict_empty_pool_after) continue;
    if (entry->timer != 0) loop_.CancelTimer(entry->timer);
    if (config_.log_event) {
      const HostPoolStatsSnapshot& c = pool->counters();
      config_.log_event("pool_evicted",
                        {{"pool", pool->key()},
                         {"idle_for", absl::FormatDuration(absl::Trunc(now - pool->last_used(),
                                                                       absl::Milliseconds(1)))},
                         {"requests_total", absl::StrCat(c.requests_total)},
                         {"connections_opened_total", absl::StrCat(c.connections_opened_total)}});
    }
    dirty_.erase(pool);
    entry_of_.erase(pool);
    pools_.erase(current);
  }
}

Engine::StatsResult EngineImpl::CollectStats(const std::string& pool_key) {
  Engine::StatsResult out;
  out.pool_count = static_cast<uint32_t>(pools_.size());
  // One netlink dump serves every pool; without it the kernel column stays
  // 0. The dump walks the kernel's whole TCP table (a fifth of a Stats call
  // with 10,000 pools, all of it on this thread), so it is taken at most
  // once per kTimeWaitRecount; a TIME_WAIT socket lasts 60 s.
  const absl::Time now = loop_.clock().Now();
  if (!pools_.empty() && now - time_wait_counted_at_ >= kTimeWaitRecount) {
    time_wait_ = CountTimeWaitByRemote();
    time_wait_counted_at_ = now;
  }
  // Snapshots are large (two histograms each): no regrowth copies with 10,000 pools.
  if (pool_key.empty()) out.pools.reserve(pools_.size());
  for (auto& [key, entry] : pools_) {
    HostPoolStatsSnapshot snap = entry->pool->Snapshot();
    if (time_wait_.ok()) {
      for (const std::string& remote : entry->remotes) {
        auto it = time_wait_->find(remote);
        if (it != time_wait_->end()) snap.time_wait_kernel += it->second;
      }
    }
    MarkDirty(*entry->pool);
    out.totals.Accumulate(snap);
    if (pool_key.empty() || pool_key == key) out.pools.push_back(std::move(snap));
  }
  return out;
}

void EngineImpl::TearDown() {
  draining_ = true;
  const absl::Status shutting_down =
      MakeError(Reason::kShuttingDown, "fetchpool is shutting down");
  // Waiters first, so aborting a transfer below cannot hand its freed
  // capacity to a waiter and start a new transfer.
  for (auto& [key, entry] : pools_) entry->pool->FailAllWaiters(shutting_down);
  std::vector<FetchOp*> running;
  for (auto& [id, op] : ops_) running.push_back(op.get());
  for (FetchOp* op : running) {
    Answer(op, shutting_down);
    AbortTransfer(op, CloseReason::kShutdown);
  }
  dirty_.clear();
  entry_of_.clear();
  pools_.clear();
}

// ---------------------------------------------------------------------------
// Fetch lifecycle

void EngineImpl::StartFetch(std::unique_ptr<FetchOp> owned) {
  FetchOp* op = owned.get();
  ops_.emplace(op->id, std::move(owned));
  op->result.id = op->spec.id;
  if (draining_) {
    Answer(op, MakeError(Reason::kShuttingDown, "fetchpool is shutting down"));
    Finish(op);
    return;
  }
  AcquireConnection(op);
}

void EngineImpl::AcquireConnection(FetchOp* op, bool fresh) {
  absl::Status error;
  PoolEntry* entry = FindOrCreatePool(op->spec.pool_key, &error);
  if (entry == nullptr) {
    Answer(op, error);
    Finish(op);
    return;
  }
  op->pool = entry;
  op->phase = FetchOp::Phase::kWaiting;
  HostPool& pool = *entry->pool;
  ++pool.counters().requests_total;
  const absl::Time now = loop_.clock().Now();
  const absl::Duration wait = op->spec.wait_timeout.value_or(pool.config().wait_timeout);
  const absl::Time wait_deadline = std::min(op->spec.deadline, now + wait);
  const HostPool::WaiterId waiter = pool.Acquire(
      wait_deadline, [this, op](absl::StatusOr<Lease> lease) { OnLease(op, std::move(lease)); },
      HostPool::AcquireOptions{fresh});
  // A non-zero id means the callback has not run, so `op` is still alive.
  if (waiter != 0) op->waiter = waiter;
  MarkDirty(pool);
}

void EngineImpl::OnLease(FetchOp* op, absl::StatusOr<Lease> lease) {
  op->waiter = 0;
  if (!lease.ok()) {
    Answer(op, lease.status());
    Finish(op);
    return;
  }
  op->conn = static_cast<CurlConnection*>(&lease->slot->connection());
  op->fresh_connection = lease->fresh;
  op->result.timing.queue_wait += lease->waited;
  op->pool->pool->counters().queue_wait.Record(lease->waited);
  op->leased_at = loop_.clock().Now();
  StartTransfer(op);
}

void EngineImpl::StartTransfer(FetchOp* op) {
  const HostPoolConfig& cfg = op->pool->pool->config();
  const FetchSpec& spec = op->spec;
  CurlConnection& conn = *op->conn;
  op->phase = FetchOp::Phase::kTransferring;
  op->result.pool = spec.pool_key;
  op->result.effective_url = spec.url;
  op->body_limit = spec.max_response_bytes == 0
                       ? cfg.max_response_bytes
                       : std::min<uint64_t>(spec.max_response_bytes, cfg.max_response_bytes);

  conn.PrepareTransfer(cfg.connect_timeout);
  CURL* easy = conn.easy();
  curl_easy_setopt(easy, CURLOPT_URL, spec.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, op);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &EngineImpl::OnHeaderLine);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, op);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &EngineImpl::OnBodyBytes);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, op);
  curl_easy_setopt(easy, CURLOPT_RESOLVER_START_FUNCTION, &OnResolverStart);
  curl_easy_setopt(easy, CURLOPT_RESOLVER_START_DATA, op);
  const bool sends_body = !spec.body.empty() || spec.method == "POST" || spec.method == "PUT" ||
                          spec.method == "PATCH";
  if (sends_body) {
    // Makes curl send a POST unless CUSTOMREQUEST below names the method.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(spec.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, spec.body.data());
  }
  // Methods keep the caller's case, but any spelling of HEAD has no body
  // to wait for.
  const bool head = absl::EqualsIgnoreCase(spec.method, "HEAD");
  if (head) curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  const char* natural = sends_body ? "POST" : (head ? "HEAD" : "GET");
  if (spec.method != natural) curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, spec.method.c_str());
  if (op->header_list == nullptr) {
    // Never wait for "100 Continue": it costs a round trip per request.
    op->header_list = curl_slist_append(nullptr, "Expect:");
    for (const auto& [name, value] : spec.headers) {
      // "Name;" is curl's way to send a header with an empty value.
      const std::string line = value.empty() ? absl::StrCat(name, ";") : absl::StrCat(name, ": ", value);
      op->header_list = curl_slist_append(op->header_list, line.c_str());
    }
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, op->header_list);

  // The transfer ends by the call's deadline, and by request_timeout after
  // the lease when the caller set one. The engine's own timer enforces it so
  // the abort-or-drain policy decides what happens to the connection.
  op->transfer_deadline = spec.deadline;
  if (spec.request_timeout.has_value()) {
    op->transfer_deadline = std::min(op->transfer_deadline, op->leased_at + *spec.request_timeout);
  }
  if (op->transfer_deadline != absl::InfiniteFuture()) {
    op->deadline_timer = loop_.AddTimer(op->transfer_deadline, [this, op] {
      op->deadline_timer = 0;
      const bool call_deadline = op->transfer_deadline >= op->spec.deadline;
      OnTransferDeadline(
          op, MakeError(Reason::kDeadlineExceeded,
                        absl::StrCat(call_deadline ? "the call's deadline" : "request_timeout",
                                     " passed while fetching ", op->spec.url, " after ",
                                     op->bytes_received, " body bytes (",
                                     op->any_response_byte ? "response started" : "no response yet",
                                     ")")));
    });
  }
  absl::Status started = conn.StartTransfer();
  if (!started.ok()) {
    Answer(op, MakeError(Reason::kInternal, started.message()));
    ReleaseSlot(op, /*reusable=*/false, CloseReason::kError);
    Finish(op);
  }
}

size_t EngineImpl::OnHeaderLine(char* buffer, size_t size, size_t count, void* userdata) {
  auto* op = static_cast<FetchOp*>(userdata);
  const size_t n = size * count;
  op->any_response_byte = true;
  absl::string_view line(buffer, n);
  line = absl::StripTrailingAsciiWhitespace(line);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new status line: an interim 1xx response may have come before.
    op->result.headers.clear();
    op->keep_alive_header.clear();
    op->declared_length = 0;
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    op->result.http_version = std::string(parts[0]);
    int status = 0;
    if (parts.size() > 1 && absl::SimpleAtoi(parts[1], &status)) op->result.status = status;
    return n;
  }
  if (line.empty()) {
    // End of a header block. For the final response, a declared body over
    // the limit is refused now rather than after downloading it.
    if (op->result.status >= 200 && op->declared_length > op->body_limit &&
        op->phase == FetchOp::Phase::kTransferring) {
      return op->engine->RefuseOversizedBody(op) ? n : 0;
    }
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return n;
  absl::string_view name = line.substr(0, colon);
  absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (absl::EqualsIgnoreCase(name, "keep-alive")) op->keep_alive_header = std::string(value);
  if (absl::EqualsIgnoreCase(name, "content-length")) {
    uint64_t length = 0;
    if (absl::SimpleAtoi(value, &length)) op->declared_length = length;
  }
  op->result.headers.emplace_back(std::string(name), std::string(value));
  return n;
}

size_t EngineImpl::OnBodyBytes(char* buffer, size_t size, size_t count, void* userdata) {
  auto* op = static_cast<FetchOp*>(userdata);
  const size_t n = size * count;
  op->any_response_byte = true;
  op->bytes_received += n;
  if (op->phase == FetchOp::Phase::kDraining) {
    // body_limit is the drain budget here: past it the connection is not
    // worth keeping, and returning 0 makes curl close it.
    return op->bytes_received > op->body_limit ? 0 : n;
  }
  if (op->result.body.size() + n > op->body_limit) {
    return op->engine->RefuseOversizedBody(op) ? n : 0;
  }
  op->result.body.append(buffer, n);
  return n;
}

bool EngineImpl::RefuseOversizedBody(FetchOp* op) {
  op->too_large = true;
  const HostPoolConfig& cfg = op->pool->pool->config();
  const uint64_t left = op->declared_length > op->bytes_received
                            ? op->declared_length - op->bytes_received
                            : 0;
  // Draining keeps the connection (no TIME_WAIT, no new handshake) when the
  // rest of the body is cheap enough to read and throw away.
  if (PolicyFor(*op) == OnDeadline::kDrain && left <= cfg.drain_max_bytes) {
    BeginDrain(op, MakeError(Reason::kResponseTooLarge,
                             absl::StrCat("response from ", op->spec.url, " exceeds the limit of ",
                                          op->body_limit, " bytes")));
    return true;
  }
  return false;  // curl aborts the transfer; OnTransferDone answers
}

void EngineImpl::OnTransferDone(CurlConnection& conn, CURLcode code) {
  FetchOp* op = nullptr;
  curl_easy_getinfo(conn.easy(), CURLINFO_PRIVATE, &op);
  CURL* easy = conn.easy();
  HostPool& pool = *op->pool->pool;
  CancelDeadlineTimer(op);
  const bool opened_socket = conn.sockets_opened_this_transfer() > 0;
  const bool reused = !opened_socket;
  // The reused connection died after our request went out, before any
  // response (libcurl's own replay was refused: CurlConnection::OnOpenSocket).
  const bool died_after_request = conn.reconnect_refused();
  if (opened_socket && !op->fresh_connection) {
    // curl found the cached connection dead and dialled again inside this
    // slot: account for it as a close and an open so the books balance.
    auto& c = pool.counters();
    ++c.connections_closed_total;
    ++c.closed_upstream_total;
    ++c.stale_caught_total;
    ++c.connections_opened_total;
  }
  if (code == CURLE_OK && reused) ++pool.counters().reused_requests_total;
  if (!op->keep_alive_header.empty()) {
    if (auto hint = ParseKeepAliveTimeout(op->keep_alive_header)) pool.ApplyKeepAliveHint(*hint);
  }

  // Timings (curl's are cumulative from the start of this attempt).
  const absl::Duration lookup = MicrosInfo(easy, CURLINFO_NAMELOOKUP_TIME_T);
  const absl::Duration connect = MicrosInfo(easy, CURLINFO_CONNECT_TIME_T);
  const absl::Duration app = MicrosInfo(easy, CURLINFO_APPCONNECT_TIME_T);
  const absl::Duration pre = MicrosInfo(easy, CURLINFO_PRETRANSFER_TIME_T);
  const absl::Duration start = MicrosInfo(easy, CURLINFO_STARTTRANSFER_TIME_T);
  FetchTimings& t = op->result.timing;
  t.dns = lookup;
  t.connect = connect > lookup ? connect - lookup : absl::ZeroDuration();
  t.tls = app > connect ? app - connect : absl::ZeroDuration();
  t.first_byte = start > pre ? start - pre : absl::ZeroDuration();
  char* ip = nullptr;
  long port = 0;
  curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip);
  curl_easy_getinfo(easy, CURLINFO_PRIMARY_PORT, &port);
  if (ip != nullptr && ip[0] != '\0') {
    op->result.remote_address =
        std::strchr(ip, ':') ? absl::StrCat("[", ip, "]:", port) : absl::StrCat(ip, ":", port);
  }
  op->result.connection_reused = reused;
  if (!op->result.remote_address.empty() && op->pool->remotes.size() < kMaxRemotesPerPool) {
    op->pool->remotes.insert(op->result.remote_address);
  }

  TransferFailure failure;
  if (code != CURLE_OK) {
    // Without the refusal curl would have said "empty reply" or "recv failure".
    failure.code = died_after_request ? CURLE_GOT_NOTHING : code;
    failure.pool_key = op->spec.pool_key;
    failure.url = op->spec.url;
    failure.policy_denial = conn.policy_denial();
    failure.socket_errno = conn.socket_errno();
    failure.curl_detail = died_after_request
                              ? "the origin closed the reused connection without a response"
                              : conn.error_detail();
    failure.connected = pre > absl::ZeroDuration() || reused;
    failure.reused_connection = reused;
    failure.body_bytes = op->bytes_received;
    failure.body_limit = op->body_limit;
    failure.too_large = op->too_large;
  }
  conn.FinishTransfer();
  const bool reusable = code == CURLE_OK && conn.has_socket();

  if (op->phase == FetchOp::Phase::kDraining) {
    ReleaseSlot(op, reusable, reusable ? CloseReason::kError : CloseReason::kAborted);
    Finish(op);
    return;
  }

  // A reused connection that died before any response byte: the origin
  // closed it while our request was on the way (the hyper reset). Replay
  // once on another connection when the request is safe to replay.
  if (code != CURLE_OK && (IsStaleConnectionError(code) || died_after_request) && reused &&
      !op->any_response_byte &&
      op->spec.replayable && op->attempts == 1) {
    ReleaseSlot(op, /*reusable=*/false, CloseReason::kStale);
    ++pool.counters().retries_total;
    ++op->attempts;
    op->ResetForNextAttempt();
    AcquireConnection(op, /*fresh=*/true);
    return;
  }

  if (code != CURLE_OK) {
    absl::Status status = TransferFailureToStatus(failure);
    ReleaseSlot(op, /*reusable=*/false, op->too_large ? CloseReason::kAborted : CloseReason::kError);
    Answer(op, status);
    Finish(op);
    return;
  }

  if (op->spec.follow_redirects && IsRedirect(op->result.status)) {
    ReleaseSlot(op, reusable, CloseReason::kUpstream);
    if (FollowRedirect(op)) return;
    Finish(op);
    return;
  }
  ReleaseSlot(op, reusable, CloseReason::kUpstream);
  op->result.attempts = op->attempts;
  Answer(op, std::move(op->result));
  Finish(op);
}

bool EngineImpl::FollowRedirect(FetchOp* op) {
  std::string location;
  for (const auto& [name, value] : op->result.headers) {
    if (absl::EqualsIgnoreCase(name, "location")) location = value;
  }
  if (location.empty()) {  // a 3xx without Location is just a response
    Answer(op, std::move(op->result));
    return false;
  }
  if (op->result.redirects >= op->spec.max_redirects) {
    Answer(op, MakeError(Reason::kTooManyRedirects,
                         absl::StrCat("more than ", op->spec.max_redirects, " redirects from ",
                                      op->spec.url)));
    return false;
  }
  absl::StatusOr<std::string> absolute = ResolveUrl(op->spec.url, location);
  absl::StatusOr<HttpUrl> next =
      absolute.ok() ? ParseHttpUrl("Location", *absolute) : absolute.status();
  if (!next.ok()) {
    Answer(op, MakeError(Reason::kProtocolError,
                         absl::StrCat("redirect from ", op->spec.url,
                                      " to an unusable location: ", next.status().message())));
    return false;
  }
  const int status = op->result.status;
  // 303, and 301/302 after a POST (what browsers and curl do), become GET.
  if (status == 303 || ((status == 301 || status == 302) && op->spec.method == "POST")) {
    if (op->spec.method != "HEAD") op->spec.method = "GET";
    op->spec.body.clear();
  }
  op->spec.url = next->url;
  op->spec.pool_key = next->pool_key;
  op->ResetForNextAttempt();
  ++op->result.redirects;
  AcquireConnection(op);
  return true;
}

void EngineImpl::OnTransferDeadline(FetchOp* op, absl::Status why) {
  if (op->phase != FetchOp::Phase::kTransferring) return;
  if (PolicyFor(*op) == OnDeadline::kAbort) {
    Answer(op, why);
    AbortTransfer(op, CloseReason::kAborted);
    return;
  }
  BeginDrain(op, why);
}

void EngineImpl::BeginDrain(FetchOp* op, absl::Status answer) {
  CancelDeadlineTimer(op);
  Answer(op, std::move(answer));
  op->phase = FetchOp::Phase::kDraining;
  const HostPoolConfig& cfg = op->pool->pool->config();
  // The body seen so far no longer matters; what is left must fit the budget.
  op->body_limit = op->bytes_received + cfg.drain_max_bytes;
  op->result.body.clear();
  op->deadline_timer = loop_.AddTimer(loop_.clock().Now() + cfg.drain_timeout, [this, op] {
    op->deadline_timer = 0;
    AbortTransfer(op, CloseReason::kAborted);
  });
}

void EngineImpl::AbortTransfer(FetchOp* op, CloseReason reason) {
  CancelDeadlineTimer(op);
  if (op->conn != nullptr) {
    op->conn->FinishTransfer();  // mid-transfer: curl closes the connection
    ReleaseSlot(op, /*reusable=*/false, reason);
  }
  Finish(op);
}

void EngineImpl::ReleaseSlot(FetchOp* op, bool reusable, CloseReason reason) {
  if (op->conn == nullptr) return;
  Slot* slot = &op->conn->slot();
  HostPool& pool = slot->pool();
  op->conn = nullptr;
  pool.Release(slot, reusable, reason);
  MarkDirty(pool);
}

void EngineImpl::CancelFetch(uint64_t id) {
  auto it = ops_.find(id);
  if (it == ops_.end()) return;
  FetchOp* op = it->second.get();
  // gRPC cancels a call whose deadline passed, often before our own
  // deadline timer fires: that is a deadline, not a caller's cancel.
  const bool deadline_passed = op->spec.deadline <= loop_.clock().Now();
  absl::Status cancelled =
      deadline_passed
          ? MakeError(Reason::kDeadlineExceeded,
                      absl::StrCat("the call's deadline passed while fetching ", op->spec.url))
          : MakeError(Reason::kCancelled, "the call was cancelled by the caller");
  switch (op->phase) {
    case FetchOp::Phase::kWaiting:
      if (op->waiter != 0) {
        HostPool& pool = *op->pool->pool;
        pool.Cancel(op->waiter);  // runs OnLease with CANCELLED, which finishes op
        MarkDirty(pool);
      }
      return;
    case FetchOp::Phase::kTransferring:
      if (PolicyFor(*op) == OnDeadline::kAbort) {
        Answer(op, cancelled);
        AbortTransfer(op, CloseReason::kAborted);
      } else {
        BeginDrain(op, cancelled);
      }
      return;
    case FetchOp::Phase::kDraining:
      return;  // already answered
  }
}

void EngineImpl::Answer(FetchOp* op, absl::StatusOr<FetchResult> result) {
  if (op->answered) return;
  op->answered = true;
  if (op->pool != nullptr) {
    HostPoolStatsSnapshot& counters = op->pool->pool->counters();
    counters.fetch_time.Record(loop_.clock().Now() - op->arrived);
    if (!result.ok()) {
      ++counters.failures_total;
      ++counters.errors_by_reason[ReasonOf(result.status())];
    }
  }
  if (result.ok()) {
    result->timing.total = loop_.clock().Now() - op->arrived;
    result->attempts = op->attempts;
  }
  FetchCallback done = std::move(op->done);
  done(std::move(result));
}

void EngineImpl::CancelDeadlineTimer(FetchOp* op) {
  if (op->deadline_timer == 0) return;
  loop_.CancelTimer(op->deadline_timer);
  op->deadline_timer = 0;
}

void EngineImpl::Finish(FetchOp* op) {
  CancelDeadlineTimer(op);
  ops_.erase(op->id);  // destroys op
}

// ---------------------------------------------------------------------------
// Engine

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(EngineConfig config) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  absl::Status valid = config.defaults.Validate();
  if (!valid.ok()) return valid;
  for (const auto& [key, host] : config.per_host) {
    valid = host.Validate();
    if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(key, ": ", valid.message()));
  }
  absl::StatusOr<DestinationPolicy> policy = DestinationPolicy::Create(config.allow_cidrs);
  if (!policy.ok()) return policy.status();
  return std::unique_ptr<Engine>(
      new Engine(std::make_unique<EngineImpl>(std::move(config), *std::move(policy))));
}

Engine::Engine(std::unique_ptr<EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Engine::FetchId Engine::Fetch(FetchSpec spec, FetchCallback done) {
  return impl_->Fetch(std::move(spec), std::move(done));
}
void Engine::Cancel(FetchId id) { impl_->Cancel(id); }
void Engine::GetStats(std::string pool_key, absl::AnyInvocable<void(StatsResult)> done) {
  impl_->GetStats(std::move(pool_key), std::move(done));
}
void Engine::Shutdown(absl::Duration grace) { impl_->Shutdown(grace); }
void Engine::RunAfter(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  impl_->RunAfter(delay, std::move(fn));
}
void Engine::RunOnLoopAndWait(absl::AnyInvocable<void()> fn) {
  impl_->RunOnLoopAndWait(std::move(fn));
}
absl::Status Engine::CheckInvariants() { return impl_->CheckInvariants(); }

}  // namespace fetchpool
