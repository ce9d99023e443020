#include "bench/soak/self_test.h"

#include <cstdint>
#include <cstdio>
#include <string>

#include "bench/soak/invariants.h"
#include "bench/soak/ledger.h"
#include "bench/soak/routes.h"
#include "fetchpool/v1/fetchpool.pb.h"

namespace fetchpool::soak {

using fetchpool::v1::FetchResponse;
using fetchpool::v1::HostPoolStats;
using fetchpool::v1::StatsResponse;

int SelfTest() {
  int failed = 0;
  auto expect = [&](const std::string& name, const StatsResponse& r, const std::string& violation) {
    Ledger l;
    ledger = &l;
    CheckStats(r, "self-test");
    const bool flagged = l.violations_.count(violation) > 0;
    const bool clean = l.violations_.empty();
    const bool ok = violation.empty() ? clean : (flagged && l.violations_.size() == 1);
    std::printf("self-test %-44s %s\n", name.c_str(), ok ? "ok" : "FAILED");
    if (!ok) ++failed;
    ledger = nullptr;
  };
  auto pool = [](uint32_t max, uint32_t busy, uint32_t idle, uint32_t connecting, uint32_t waiting) {
    StatsResponse r;
    HostPoolStats* p = r.add_pools();
    p->set_host("http://127.0.0.1:1");
    p->set_max_connections(max);
    p->set_max_idle_connections(max);
    p->set_busy_connections(busy);
    p->set_idle_connections(idle);
    p->set_connecting_connections(connecting);
    p->set_wait_queue_length(waiting);
    p->set_connections_opened_total(100 + busy + idle + connecting);
    p->set_connections_closed_total(100);
    return r;
  };
  expect("good pool", pool(4, 2, 1, 1, 0), "");
  expect("good pool at its cap with waiters", pool(4, 3, 0, 1, 5), "");
  expect("over the cap", pool(4, 3, 1, 1, 0), "busy + idle + connecting > max_connections");
  expect("waiters while idle", pool(4, 3, 1, 0, 2), "waiters while a connection is idle");
  expect("waiters below the cap", pool(4, 2, 0, 1, 2), "waiters while the pool is below its cap");
  StatsResponse drift = pool(4, 2, 1, 0, 0);
  drift.mutable_pools(0)->set_connections_closed_total(99);
  expect("opened - closed drift", drift, "opened - closed != busy + idle + connecting");
  StatsResponse idle_cap = pool(8, 0, 5, 0, 0);
  idle_cap.mutable_pools(0)->set_max_idle_connections(4);
  expect("idle over its cap", idle_cap, "idle > max_idle_connections");

  Prepared p;
  p.want_length = 3;
  FetchResponse r;
  r.set_status(200);
  r.set_body("abc");
  auto body = [&](const std::string& name, bool want_match) {
    const bool ok = BodyMismatch(p, r).empty() == want_match;
    std::printf("self-test %-44s %s\n", name.c_str(), ok ? "ok" : "FAILED");
    if (!ok) ++failed;
  };
  body("body of the right length", true);
  r.set_body("abcd");
  body("body of the wrong length", false);
  p.want_length = -1;
  p.want_body = "token-1";
  r.set_body("token-2");
  body("echo of another token", false);
  r.set_body("token-1");
  r.set_status(404);
  body("wrong HTTP status", false);
  std::printf("self-test: %s\n", failed == 0 ? "all checks catch their case" : "FAILED");
  return failed == 0 ? 0 : 1;
}

}  // namespace fetchpool::soak
