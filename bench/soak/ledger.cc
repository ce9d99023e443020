#include "bench/soak/ledger.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fetchpool::soak {

const char* const kKindNames[kNumKinds] = {"Fetch (unary)", "FetchStream fetches", "FetchStream calls",
                                           "Stats", "WatchStats"};

Ledger* ledger = nullptr;

void Ledger::Started(Kind k) {
  std::lock_guard<std::mutex> l(mu_);
  ++started_[k];
}

void Ledger::Answered(Kind k, const std::string& outcome) {
  std::lock_guard<std::mutex> l(mu_);
  ++answered_[k];
  ++outcomes_[outcome][k];
}

void Ledger::CancelRequested(Kind k) {
  std::lock_guard<std::mutex> l(mu_);
  ++cancels_[k];
}

void Ledger::Skipped(Kind k) {
  std::lock_guard<std::mutex> l(mu_);
  ++skipped_[k];
}

void Ledger::Route(const std::string& route, const std::string& outcome, bool unexpected) {
  std::lock_guard<std::mutex> l(mu_);
  RouteTally& t = routes_[route];
  ++t.calls;
  ++t.outcomes[outcome];
  if (unexpected) ++t.unexpected;
}

void Ledger::Violation(const std::string& what, const std::string& detail) {
  std::lock_guard<std::mutex> l(mu_);
  ++violations_[what];
  if (examples_.size() < 40) {
    examples_.push_back(absl::StrCat(absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone()),
                                     " ", what, ": ", detail));
  }
}

void Ledger::StatsChecked(const std::string& source, int64_t pools, int64_t bad) {
  std::lock_guard<std::mutex> l(mu_);
  auto& s = stats_checks_[source];
  s[0] += 1;
  s[1] += pools;
  s[2] += bad;
}

int64_t Ledger::Outstanding(Kind k) {
  std::lock_guard<std::mutex> l(mu_);
  return started_[k] - answered_[k];
}

int64_t Ledger::TotalOutstanding() {
  std::lock_guard<std::mutex> l(mu_);
  int64_t n = 0;
  for (int k = 0; k < kNumKinds; ++k) n += started_[k] - answered_[k];
  return n;
}

}  // namespace fetchpool::soak
