#ifndef FETCHPOOL_BENCH_SOAK_LEDGER_H_
#define FETCHPOOL_BENCH_SOAK_LEDGER_H_

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace fetchpool::soak {

// ---- the ledger: every start, answer and violation ---------------------------

enum Kind { kUnary, kStreamFetch, kStream, kStats, kWatch, kNumKinds };
extern const char* const kKindNames[kNumKinds];

struct RouteTally {
  int64_t calls = 0;
  std::map<std::string, int64_t> outcomes;
  int64_t unexpected = 0;  // an outcome the route should not give, but may under load
};

class Ledger {
 public:
  void Started(Kind k);
  void Answered(Kind k, const std::string& outcome);
  void CancelRequested(Kind k);
  void Skipped(Kind k);
  void Route(const std::string& route, const std::string& outcome, bool unexpected);
  void Violation(const std::string& what, const std::string& detail);
  // One StatsResponse checked (source: "sampler", "Stats load", "WatchStats").
  void StatsChecked(const std::string& source, int64_t pools, int64_t bad);

  int64_t Outstanding(Kind k);
  int64_t TotalOutstanding();

  // Snapshot access for the report (called after the load, single-threaded).
  std::mutex mu_;
  int64_t started_[kNumKinds] = {};
  int64_t answered_[kNumKinds] = {};
  int64_t cancels_[kNumKinds] = {};
  int64_t skipped_[kNumKinds] = {};
  std::map<std::string, std::array<int64_t, kNumKinds>> outcomes_;
  std::map<std::string, RouteTally> routes_;
  std::map<std::string, int64_t> violations_;
  std::vector<std::string> examples_;
  std::map<std::string, std::array<int64_t, 3>> stats_checks_;  // responses, pool snapshots, bad
};

// The run's ledger (main's; the self-test swaps in its own).
extern Ledger* ledger;

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_LEDGER_H_
