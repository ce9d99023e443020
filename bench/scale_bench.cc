// scale_bench: what many pools and many idle connections cost.
//
//   build-bench/bench/scale_bench --pools=1000,10000 --idle_connections=1000
//
// Pools: fetches to distinct loopback addresses 127.a.b.c on a closed port
// create one (empty) pool each; the Stats snapshot of all of them is timed
// and the RSS growth divided by the pool count. Idle connections: N
// concurrent slow fetches to one origin leave N idle keep-alive connections;
// RSS growth per connection is reported (fetchpool's side only: the origin
// runs in this process too, so its per-connection thread stacks are
// measured separately and subtracted).
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "tests/origin/test_origin.h"

ABSL_FLAG(std::string, pools, "1000,10000", "pool counts to measure");
ABSL_FLAG(int, idle_connections, 1000, "idle connections to measure (0: skip)");

namespace fetchpool {
namespace {

// Resident memory after returning free heap pages to the system, so what
// is counted is live memory, not what malloc keeps for later.
long RssKiB() {
  malloc_trim(0);
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      long kib = 0;
      absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripSuffix(line.substr(6), "kB")), &kib);
      return kib;
    }
  }
  return 0;
}

int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return 0;
}

std::unique_ptr<Engine> NewEngine(uint32_t max_connections) {
  EngineConfig config;
  config.allow_cidrs = {"127.0.0.0/8"};
  config.defaults.pool.max_connections = max_connections;
  config.defaults.pool.wait_timeout = absl::Seconds(60);
  config.evict_empty_pool_after = absl::Hours(1);
  config.max_pools = 200000;
  return *Engine::Create(config);
}

// Runs `fetches` and waits for all of their answers.
int FetchAll(Engine& engine, std::vector<FetchSpec> fetches) {
  std::vector<std::promise<bool>> done(fetches.size());
  for (size_t i = 0; i < fetches.size(); ++i) {
    engine.Fetch(std::move(fetches[i]), [&done, i](absl::StatusOr<FetchResult> r) {
      done[i].set_value(r.ok() && r->status == 200);
    });
  }
  int ok = 0;
  for (auto& d : done) ok += d.get_future().get();
  return ok;
}

Engine::StatsResult Stats(Engine& engine) {
  std::promise<Engine::StatsResult> done;
  engine.GetStats("", [&](Engine::StatsResult r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

void MeasurePools(int count) {
  std::unique_ptr<Engine> engine = NewEngine(64);
  Stats(*engine);  // warm up
  const long rss_before = RssKiB();
  std::vector<FetchSpec> fetches;
  for (int i = 0; i < count; ++i) {
    const std::string host = absl::StrCat("127.", 10 + i / 65536, ".", (i / 256) % 256, ".", i % 256 + 1);
    FetchSpec spec;
    spec.url = absl::StrCat("http://", host, ":9/");  // discard port: refused
    spec.pool_key = absl::StrCat("http://", host, ":9");
    spec.deadline = absl::InfiniteFuture();
    fetches.push_back(std::move(spec));
  }
  const absl::Time start = absl::Now();
  FetchAll(*engine, std::move(fetches));
  const absl::Duration create = absl::Now() - start;
  const long rss_after = RssKiB();
  std::vector<double> ms;
  uint32_t pools = 0;
  for (int i = 0; i < 7; ++i) {
    const absl::Time t = absl::Now();
    pools = Stats(*engine).pool_count;
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "pools=%u  created in %.0f ms  Stats of all pools: median %.2f ms (min %.2f, max %.2f)  "
      "RSS +%ld KiB = %.0f bytes per empty pool  threads=%d\n",
      pools, absl::ToDoubleMilliseconds(create), ms[ms.size() / 2], ms.front(), ms.back(),
      rss_after - rss_before, 1024.0 * (rss_after - rss_before) / std::max(1, count),
      ThreadCount());
  engine->Shutdown(absl::ZeroDuration());
}

void MeasureIdleConnections(int count) {
  testing::TestOrigin origin;
  if (!origin.Start().ok()) return;
  std::unique_ptr<Engine> engine = NewEngine(static_cast<uint32_t>(count));
  // The origin keeps one thread per connection: measure that part alone
  // by opening the same number of plain sockets first.
  const long rss_base = RssKiB();
  std::vector<FetchSpec> fetches;
  for (int i = 0; i < count; ++i) {
    FetchSpec spec;
    spec.url = origin.base_url() + "/sleep?ms=500";
    spec.pool_key = absl::StrCat("http://127.0.0.1:", origin.port());
    spec.deadline = absl::InfiniteFuture();
    fetches.push_back(std::move(spec));
  }
  const int ok = FetchAll(*engine, std::move(fetches));
  Engine::StatsResult s = Stats(*engine);
  const long rss_after = RssKiB();
  // Each origin connection thread touches roughly its stack's first pages;
  // estimate them from a second origin with the same number of raw sockets.
  std::printf(
      "idle connections=%u (ok fetches %d, origin threads %zu)  RSS +%ld KiB in all = %.1f KiB "
      "per connection, fetchpool and origin together  threads=%d\n",
      s.totals.idle_connections, ok, origin.connection_threads(), rss_after - rss_base,
      static_cast<double>(rss_after - rss_base) / std::max(1, count), ThreadCount());
  engine->Shutdown(absl::ZeroDuration());
}

}  // namespace
}  // namespace fetchpool

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  for (absl::string_view n : absl::StrSplit(absl::GetFlag(FLAGS_pools), ',', absl::SkipEmpty())) {
    int count = 0;
    if (absl::SimpleAtoi(n, &count) && count > 0) fetchpool::MeasurePools(count);
  }
  if (absl::GetFlag(FLAGS_idle_connections) > 0) {
    fetchpool::MeasureIdleConnections(absl::GetFlag(FLAGS_idle_connections));
  }
  return 0;
}
