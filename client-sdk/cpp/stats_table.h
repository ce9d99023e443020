#ifndef FETCHPOOL_CLIENT_SDK_CPP_STATS_TABLE_H_
#define FETCHPOOL_CLIENT_SDK_CPP_STATS_TABLE_H_

#include <string>

#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool {
namespace client {

// The pools as a fixed-width text table, one row per pool, busiest wait queue
// first (ties by host, so refreshes do not reorder rows), then a TOTAL row:
//
//   HOST               MAX  BUSY  IDLE  CONN  WAIT  REQS  REUSE%  OPENED  TW  WAIT_TO
//   http://api:80        8     8     0     0    31  1200   97.5%      30   2        4
//   TOTAL                8     8     0     0    31  1200   97.5%      30   2        4
//
// CONN counts connections still being established; TW is time_wait_estimate;
// WAIT_TO is wait_timeouts_total; REUSE% is "-" before the first request.
// TOTAL is the server's `totals`, or the column sums if the server sent none.
// Every line ends in '\n'.
std::string FormatStatsTable(const fetchpool::v1::StatsResponse& stats);

}  // namespace client
}  // namespace fetchpool

#endif  // FETCHPOOL_CLIENT_SDK_CPP_STATS_TABLE_H_
