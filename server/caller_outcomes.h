#ifndef FETCHPOOL_SERVER_CALLER_OUTCOMES_H_
#define FETCHPOOL_SERVER_CALLER_OUTCOMES_H_

// No gRPC here (part of fetchpool_server_core, used by the call sessions).

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fetchpool {

// How every fetch ended, per caller: the counts behind
// fetchpool_caller_requests_total{caller,reason} (reason "OK" or the stable
// reason), and a rate-limited "fetch_failed" log line per failure.
// Thread-safe: answers come from gRPC and engine loop threads.
class CallerOutcomes {
 public:
  using Fields = std::vector<std::pair<std::string, std::string>>;
  // Writes one log line (LogEvent("warning", "fetch_failed", fields)).
  using LogFailure = std::function<void(const Fields& fields)>;

  struct Options {
    // Failure lines logged per second at most; the rest are counted and the
    // next line logged carries "suppressed": how many were left out.
    uint32_t max_failure_logs_per_second = 20;
    // Distinct callers with a label of their own; further ones are counted
    // as caller="_other" so a stream of new identities cannot grow the
    // metrics without bound.
    size_t max_callers = 1000;
  };

  static constexpr char kOtherCaller[] = "_other";

  explicit CallerOutcomes(LogFailure log) : CallerOutcomes(std::move(log), Options()) {}
  CallerOutcomes(LogFailure log, Options options)
      : log_(std::move(log)), options_(options) {}
  CallerOutcomes(const CallerOutcomes&) = delete;
  CallerOutcomes& operator=(const CallerOutcomes&) = delete;

  // One finished fetch. `pool`: its pool key, when known.
  // `trace_id`: the fetch's W3C trace id, logged with a failure; may be empty.
  void Record(const std::string& caller, const std::string& pool, const absl::Status& status,
              const std::string& trace_id = "") {
    Record(caller, pool, status, trace_id, absl::Now());
  }
  void Record(const std::string& caller, const std::string& pool, const absl::Status& status,
              absl::Time now) {
    Record(caller, pool, status, "", now);
  }
  void Record(const std::string& caller, const std::string& pool, const absl::Status& status,
              const std::string& trace_id, absl::Time now);

  struct Count {
    std::string caller;
    std::string reason;
    uint64_t count = 0;
  };
  // Sorted by caller, then reason.
  std::vector<Count> Snapshot() const;
  // One count, for tests.
  uint64_t CountOf(const std::string& caller, const std::string& reason) const;

 private:
  const LogFailure log_;
  const Options options_;
  mutable absl::Mutex mu_;
  // caller -> reason -> count
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, uint64_t>> counts_
      ABSL_GUARDED_BY(mu_);
  absl::Time window_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint32_t logged_in_window_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_CALLER_OUTCOMES_H_
