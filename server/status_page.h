#ifndef FETCHPOOL_SERVER_STATUS_PAGE_H_
#define FETCHPOOL_SERVER_STATUS_PAGE_H_

#include <functional>
#include <optional>
#include <string>

#include "engine/engine.h"

struct mg_context;

namespace fetchpool {

// The status page on the metrics listener (issue 15), next to /metrics on
// the same civetweb server:
//   GET /            server/status_page.html, embedded at build time: the
//                    `fetchpoolctl top` table in a browser, refreshed every
//                    second from /stats.json. Rates, sorting, the filter and
//                    the sparklines live in the page: the server keeps no
//                    per-viewer state.
//   GET /stats.json  the StatsResponse of the Stats RPC (without a host) in
//                    protobuf's canonical JSON mapping (MessageToJsonString),
//                    fields at their default values included.
// Visibility: the metrics listener has no caller identity, so it answers as
// the Stats RPC answers the anonymous caller: per-pool rows only when
// --stats_callers is empty or lists "anonymous"; otherwise the totals and
// pool_count alone (the page says why the table is empty).
//
// Threads: the handlers run on civetweb's worker threads; each one waits
// for the engine's snapshot through `snapshot` (which blocks at most its
// own timeout), so nothing here is shared between requests.
struct StatusPageOptions {
  bool pool_details = true;
  // A fresh engine snapshot, or nullopt when the engine did not answer in
  // time (the request gets 503). Thread-safe.
  std::function<std::optional<Engine::StatsResult>()> snapshot;
};

// Adds the two handlers to `ctx`. `options` must outlive the server: its
// handlers keep a pointer to it. Call before the server serves (civetweb's
// init_context callback).
void RegisterStatusPage(mg_context* ctx, const StatusPageOptions* options);

// The JSON /stats.json serves for `stats`. Public for tests.
std::string StatsJson(const Engine::StatsResult& stats, bool pool_details);

// The embedded page (generated from server/status_page.html).
extern const char kStatusPageHtml[];

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_STATUS_PAGE_H_
