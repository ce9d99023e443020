// reload_client: the load and the checks of tests/server/lifecycle/reload_test.sh
// (issue 13, "Live reload"). For each --steps entry SCRIPT:CAP it puts
// --fetches fetches of --fetch_ms each in flight through fetchpoold, runs
// `bash SCRIPT` (which changes the config file, signals fetchpoold if it
// wants, and returns once fetchpoold has logged the reload), then checks
// that the pool's connection cap in Stats becomes CAP, and that every fetch
// of the step succeeds.
//
// Prints one JSON line per step; exits 1 when a check fails.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fetchpool/client.h"
#include "tests/server/lifecycle/client_util.h"

ABSL_FLAG(std::string, target, "", "fetchpoold's host:port");
ABSL_FLAG(std::string, origin, "", "the test origin's host:port");
ABSL_FLAG(std::vector<std::string>, steps, {}, "SCRIPT:CAP, in order");
ABSL_FLAG(int, fetches, 200, "fetches in flight at each reload");
ABSL_FLAG(int, fetch_ms, 500, "how long the origin takes to answer each fetch");

namespace {

using fetchpool::lifecycle::Check;

struct PoolNow {
  uint32_t max_connections = 0;
  uint32_t busy = 0;
  uint64_t requests = 0;
};

PoolNow Sample(fetchpool::Client& client) {
  PoolNow now;
  absl::StatusOr<fetchpool::v1::StatsResponse> stats = client.Stats("", absl::Seconds(2));
  if (!stats.ok()) return now;
  now.max_connections = stats->totals().max_connections();  // one pool: its cap
  now.busy = stats->totals().busy_connections();
  now.requests = stats->totals().requests_total();
  return now;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string origin = absl::GetFlag(FLAGS_origin);
  const int fetches = absl::GetFlag(FLAGS_fetches);
  fetchpool::Client client(target);
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());

  for (const std::string& step : absl::GetFlag(FLAGS_steps)) {
    std::vector<std::string> parts = absl::StrSplit(step, ':');
    uint32_t want_cap = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &want_cap)) {
      Check(false, absl::StrCat("bad step ", step, " (want SCRIPT:CAP)"));
      break;
    }
    const PoolNow before = Sample(client);
    fetchpool::lifecycle::Outcomes outcomes;
    fetchpool::lifecycle::RawUnaryLoad load(channel, &outcomes);
    for (int i = 0; i < fetches; ++i) {
      load.Start(fetchpool::lifecycle::Sleep(origin, absl::GetFlag(FLAGS_fetch_ms)),
                 absl::Seconds(60));
    }
    Check(fetchpool::lifecycle::WaitForRequests(client, before.requests + fetches,
                                                absl::Seconds(10)),
          absl::StrCat(step, ": the load did not reach fetchpoold"));
    const PoolNow at_reload = Sample(client);
    const absl::Time reload_start = absl::Now();
    const int rc = std::system(absl::StrCat("bash ", parts[0]).c_str());
    Check(rc == 0, absl::StrCat(step, ": the step's script failed (", rc, ")"));
    // The cap in force, as Stats shows it, and how busy the pool gets.
    uint32_t cap = 0;
    uint32_t max_busy = 0;
    const absl::Time give_up = absl::Now() + absl::Seconds(3);
    while (absl::Now() < give_up) {
      const PoolNow now = Sample(client);
      cap = now.max_connections;
      max_busy = std::max(max_busy, now.busy);
      if (cap == want_cap && max_busy >= std::min<uint32_t>(want_cap, fetches)) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    Check(cap == want_cap, absl::StrCat(step, ": Stats shows a cap of ", cap, ", want ", want_cap));
    const bool answered = outcomes.WaitForAnswers(fetches, absl::Seconds(60));
    const std::string tally = outcomes.Tally();
    {
      absl::MutexLock lock(&outcomes.mu);
      Check(answered && outcomes.ok == fetches,
            absl::StrCat(step, ": not every fetch in flight succeeded: ", tally));
    }
    std::printf(
        "{\"step\":\"%s\",\"fetches_in_flight\":%d,\"cap_before\":%u,\"busy_at_reload\":%u,"
        "\"cap_after\":%u,\"max_busy_after\":%u,\"reload_and_check_ms\":%.0f,\"tally\":\"%s\"}\n",
        step.c_str(), fetches, at_reload.max_connections, at_reload.busy, cap, max_busy,
        absl::ToDoubleMilliseconds(absl::Now() - reload_start), tally.c_str());
    std::fflush(stdout);
  }
  return fetchpool::lifecycle::Failures() == 0 ? 0 : 1;
}
