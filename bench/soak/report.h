#ifndef FETCHPOOL_BENCH_SOAK_REPORT_H_
#define FETCHPOOL_BENCH_SOAK_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/soak/ledger.h"
#include "bench/soak/options.h"
#include "bench/soak/proc_sampler.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool::soak {

// What the run measured, besides the ledger, for the verdict and the report.
struct RunSummary {
  absl::Time start;                   // when the load started
  double drain_s = 0;                 // from the end of the load until every call was answered (or gave up)
  int64_t outstanding[kNumKinds] = {};  // calls without an answer after the drain
  double settle_s = -1;               // until every pool was quiet; -1: never
  std::string settle_state;           // the pools still busy, connecting or waiting, when not settled
  fetchpool::v1::HostPoolStats final_totals;  // fetchpoold's counters once settled
  std::vector<Sample> samples;        // the sampler's, in time order
  Sample final_sample;                // /proc after the pools settled
};

// The verdict: FAIL on any violation in the ledger, or when fetchpoold's RSS,
// descriptors or threads, averaged over the last window, outgrow the first
// window's by more than the margins (or either window has fewer than 3
// samples). Prints the markdown report on stdout, writes it to o.report and
// every sample to o.samples (when set). Returns true on PASS.
bool Report(const Options& o, const RunSummary& run);

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_REPORT_H_
