#ifndef FETCHPOOL_BENCH_SOAK_PROC_SAMPLER_H_
#define FETCHPOOL_BENCH_SOAK_PROC_SAMPLER_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/time/time.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

namespace fetchpool::soak {

// ---- the sampler ----------------------------------------------------------------

// fetchpoold's resources (from /proc) and its pools' sums (from Stats) at one time.
struct Sample {
  double t = 0;  // seconds since the load started
  int64_t rss_kb = -1, threads = -1, fds = -1;
  int64_t pools = 0, busy = 0, idle = 0, connecting = 0, waiting = 0, opened = 0, closed = 0;
  bool stats_ok = false;
};

// VmRSS and Threads from /proc/PID/status, open descriptors from /proc/PID/fd.
// False when the process is gone.
bool ReadProc(int pid, Sample* s);

// Every `interval` until stopped: a Sample, whose StatsResponse also goes
// through CheckStats ("sampler"). A /proc that cannot be read means
// fetchpoold is gone: a violation, and gone() ends the load.
class Sampler {
 public:
  Sampler(fetchpool::v1::FetchPool::Stub* stub, int pid, absl::Time start, absl::Duration interval)
      : stub_(stub), pid_(pid), start_(start), interval_(interval) {}

  void Run(const std::atomic<bool>* stop);
  Sample TakeOne();

  std::vector<Sample> samples();
  bool gone() const { return gone_.load(); }

 private:
  fetchpool::v1::FetchPool::Stub* stub_;
  const int pid_;
  const absl::Time start_;
  const absl::Duration interval_;
  std::mutex mu_;
  std::vector<Sample> samples_;
  std::atomic<bool> gone_{false};
};

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_PROC_SAMPLER_H_
