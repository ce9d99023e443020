#ifndef FETCHPOOL_BENCH_SOAK_OPTIONS_H_
#define FETCHPOOL_BENCH_SOAK_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace fetchpool::soak {

// soak_driver's command line, read once in main. The flags themselves are
// defined in soak_driver.cc (see there for each one's help text): absl's
// --help lists only the flags defined in the file named after the binary.
struct Options {
  std::string target;  // fetchpoold's gRPC address
  int pid = 0;         // fetchpoold's pid, sampled in /proc/PID
  absl::Duration duration;
  absl::Duration sample_interval;
  absl::Duration warmup;  // resolved: never zero
  absl::Duration window;  // resolved: never zero

  // The load.
  double unary_rate = 0;
  int idle_burst = 0;
  int streams = 0;
  double stream_rate = 0;
  int stream_window = 0;
  int watchers = 0;
  double stats_rate = 0;
  double cancel_fraction = 0;
  int64_t max_unary_in_flight = 0;

  // After the load.
  absl::Duration drain;
  absl::Duration settle;

  // Resource margins, first to last window.
  double rss_margin_fraction = 0;
  double rss_margin_mib = 0;
  double fd_margin = 0;
  double thread_margin = 0;

  std::string report;   // markdown report path, or empty
  std::string samples;  // TSV of every sample, or empty
  std::string setup;    // one line for the report
  uint64_t seed = 0;    // resolved: never zero
};

}  // namespace fetchpool::soak

#endif  // FETCHPOOL_BENCH_SOAK_OPTIONS_H_
