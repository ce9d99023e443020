#ifndef FETCHPOOL_CLIENT_SDK_CPP_TOP_VIEW_H_
#define FETCHPOOL_CLIENT_SDK_CPP_TOP_VIEW_H_

// One screen of `fetchpoolctl top`, rendered from two successive WatchStats
// snapshots. Pure: no clock, no terminal, no I/O, so every byte is testable.
//
//   fetchpool 22:13:20  pools 6  busy 19  idle 12  conn 1  waiting 34  oldest 2.2s
//   req/s 1625  reuse 99.1%  open/s 4.0  TIME_WAIT est 44 kernel 46
//   err/s 2.0  DEADLINE_EXCEEDED 1.0/s  WAIT_TIMEOUT 1.0/s
//
//   HOST                      MAX BUSY IDLE CONN WAIT OLDEST REQ/S REUSE% OPEN/S TW TWK QWAIT99 FETCH99 ERR/S
//   http://api.internal:80      8    8    0    0   28  210ms   250  97.2%    1.0  2   2    97ms   235ms   1.0
//   http://slow.internal:8080   2    2    0    0    6   2.2s   2.0  50.0%      0  1   1    2.5s    2.5s   1.0
//   ...
//
// Header: the state now (connections by state, waiters and the oldest
// one's age; the server's totals), the interval's traffic (sums of the
// rows' rates, over every pool, not only the rows that fit) with the
// TIME_WAIT estimate against the kernel's count, and the interval's errors
// (the three most frequent reasons).
//
// Rates (REQ/S, OPEN/S, ERR/S, the header's /s), REUSE% and the p99s are
// over the interval between the two snapshots: REUSE% is the share of that
// interval's requests served on a reused connection, QWAIT99 / FETCH99 the
// 99th percentile of that interval's queue waits / fetch times (from the
// histogram buckets' growth, as the server estimates its own). Without a
// previous snapshot, or when nothing happened in the interval, they show
// "-". A pool new since the previous snapshot counts from zero, and so does
// a counter that went down (the pool was evicted and made again).
//
// Gauges are the current snapshot's: MAX max_connections, BUSY, IDLE, CONN
// (connecting), WAIT (live waiters), OLDEST (the oldest waiter's age, "-"
// with none), TW time_wait_estimate (sockets fetchpool closed first in the
// last 60 s), TWK time_wait_kernel (the kernel's count of them).

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool {
namespace client {

// Row order. Every order ends with the host name, so rows that tie keep
// their place from one screen to the next.
enum class TopSort {
  kWaiters,   // "waiters": most waiters first, then busiest (the default)
  kBusy,      // "busy": busiest first, then most waiters
  kRequests,  // "reqs": highest REQ/S first (lifetime requests without a rate)
  kTimeWait,  // "tw": highest TIME_WAIT estimate first, then kernel count
};

// "waiters", "busy", "reqs", "tw"; nullopt for anything else.
absl::optional<TopSort> ParseTopSort(absl::string_view name);
const char* TopSortName(TopSort sort);

struct TopFrameOptions {
  TopSort sort = TopSort::kWaiters;
  // Lines the frame may take; 0 means no limit. Rows that do not fit are
  // counted on a last line ("... 12 more pools").
  int height = 0;
  // Shown in the header as HH:MM:SS in `time_zone`; InfinitePast() leaves
  // it out.
  absl::Time time = absl::InfinitePast();
  absl::TimeZone time_zone = absl::UTCTimeZone();
};

// The frame for snapshot `cur`; `prev` is the snapshot before it (null for
// the first) and `elapsed` the time between them. `width` is the columns
// available (0: no limit): long hosts are shortened to fit (scheme dropped,
// middle elided as "api.inte..nal:8080") down to 16 columns; past that whole
// columns are hidden, least useful first (TWK, OPEN/S, FETCH99, CONN, MAX,
// OLDEST, QWAIT99, ERR/S, REQ/S), and named in the header. No number is
// ever cut. Every line ends in '\n'.
std::string RenderTopFrame(const fetchpool::v1::StatsResponse* prev, const fetchpool::v1::StatsResponse& cur,
                           absl::Duration elapsed, int width, const TopFrameOptions& options = {});

}  // namespace client
}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_TOP_VIEW_H_
