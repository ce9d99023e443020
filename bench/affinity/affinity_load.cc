// affinity_load: the client of bench/affinity/run.sh ("Affinity, measured",
// issue 12). Sends --rounds rounds of --per_origin concurrent GETs to every
// origin (all origins at once) through fetchpoold replicas, then sums each
// origin's connections_opened_total over the replicas' Stats.
//
//   --mode=host         each fetch on ReplicaChannels::ChannelFor(pool key),
//                       with the fetchpool-pool-key metadata (affinity: host)
//   --mode=round_robin  one channel to dns:///TARGET with round_robin
//
// Prints markdown table rows (see run.sh for the headers) and appends them to
// --results. With --remove_cmd (host mode), after the rounds it runs that
// command (which kills one replica and drops it from the hosts file), sends
// one more round through the same ReplicaChannels, and reports how many
// origins changed replica (from the replicas' requests_total deltas).
// Exits 1 if an origin's connections exceed --max_ratio x --pool_size in
// host mode, or if fetches fail.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client-sdk/cpp/replica_channels.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"

ABSL_FLAG(std::string, mode, "host", "host (affinity) | round_robin | resolve (print --target's addresses)");
ABSL_FLAG(std::string, target, "fetchpool-replicas:50051", "the name every replica is behind");
ABSL_FLAG(std::vector<std::string>, replicas, {}, "each replica's ip:port, for Stats");
ABSL_FLAG(std::vector<std::string>, origin_ports, {}, "ports of the origins on 127.0.0.1");
ABSL_FLAG(int, rounds, 20, "rounds of load");
ABSL_FLAG(int, per_origin, 50, "concurrent fetches per origin in each round");
ABSL_FLAG(int, pool_size, 8, "fetchpoold's --max_connections_per_host: one pool's worth");
ABSL_FLAG(double, max_ratio, 1.2, "host mode: the most connections per origin, in pools");
ABSL_FLAG(std::string, remove_cmd, "", "host mode: command that removes one replica");
ABSL_FLAG(std::string, removed, "", "the ip:port --remove_cmd removes");
ABSL_FLAG(std::string, results, "", "append the table rows here");

namespace {

using fetchpool::v1::FetchPool;
using fetchpool::v1::FetchRequest;
using fetchpool::v1::FetchResponse;
using fetchpool::v1::StatsRequest;
using fetchpool::v1::StatsResponse;

// pool key -> replica -> counter.
struct PoolCounters {
  uint64_t requests = 0;
  uint64_t connections_opened = 0;
};
using Snapshot = std::map<std::string, std::map<std::string, PoolCounters>>;

std::shared_ptr<grpc::Channel> PlainChannel(const std::string& target, const std::string& lb_policy) {
  grpc::ChannelArguments args;
  if (!lb_policy.empty()) {
    args.SetServiceConfigJSON(absl::StrCat(R"({"loadBalancingConfig":[{")", lb_policy, R"(":{}}]})"));
  }
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// Where each fetch goes: one round-robin channel, or the affinity ring.
class Router {
 public:
  explicit Router(const std::string& mode, const std::string& target) {
    if (mode == "round_robin") {
      round_robin_ = PlainChannel("dns:///" + target, "round_robin");
    } else {
      replicas_ = std::make_unique<fetchpool::ReplicaChannels>(
          target, [](const std::string& address) { return PlainChannel(address, ""); });
    }
  }
  bool affinity() const { return replicas_ != nullptr; }
  fetchpool::ReplicaChannels* replicas() { return replicas_.get(); }

  FetchPool::Stub* StubFor(const std::string& pool_key) {
    std::shared_ptr<grpc::Channel> channel = affinity() ? replicas_->ChannelFor(pool_key) : round_robin_;
    if (channel == nullptr) return nullptr;
    auto& stub = stubs_[channel.get()];
    if (stub.second == nullptr) stub = {channel, FetchPool::NewStub(channel)};
    return stub.second.get();
  }

 private:
  std::shared_ptr<grpc::Channel> round_robin_;
  std::unique_ptr<fetchpool::ReplicaChannels> replicas_;
  // The shared_ptr keeps the channel (and so the key) alive after a refresh drops it.
  std::map<grpc::Channel*, std::pair<std::shared_ptr<grpc::Channel>, std::unique_ptr<FetchPool::Stub>>> stubs_;
};

struct RoundOutcome {
  int ok = 0;
  int retried = 0;  // UNAVAILABLE without a reason, sent again (a replica went away)
  std::map<std::string, int> failures;  // "CODE reason" -> count
};

// One round: per_origin GETs to every origin at once. A fetch that fails
// UNAVAILABLE with no fetchpool-reason never reached fetchpool (the SDK's
// rule for replay-safe requests): re-resolve and send it again, a few times.
RoundOutcome RunRound(Router& router, const std::vector<std::string>& ports, int per_origin) {
  struct Call {
    std::string pool_key;
    FetchRequest request;
    FetchResponse response;
    grpc::ClientContext context;
    grpc::Status status;
  };
  RoundOutcome outcome;
  std::vector<std::pair<std::string, std::string>> to_send;  // (pool key, url)
  for (const std::string& port : ports) {
    const std::string key = absl::StrCat("http://127.0.0.1:", port);
    for (int i = 0; i < per_origin; ++i) to_send.emplace_back(key, key + "/");
  }
  for (int wave = 0; wave < 6 && !to_send.empty(); ++wave) {
    if (wave > 0) {
      outcome.retried += static_cast<int>(to_send.size());
      if (router.affinity()) router.replicas()->RefreshSoon();
      absl::SleepFor(absl::Milliseconds(250) * wave);
    }
    std::vector<std::unique_ptr<Call>> calls;
    absl::Mutex mu;
    size_t pending = to_send.size();
    for (const auto& [key, url] : to_send) {
      auto call = std::make_unique<Call>();
      call->pool_key = key;
      call->request.set_url(url);
      call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
      if (router.affinity()) call->context.AddMetadata("fetchpool-pool-key", key);
      calls.push_back(std::move(call));
    }
    for (auto& call : calls) {
      Call* c = call.get();
      FetchPool::Stub* stub = router.StubFor(c->pool_key);
      if (stub == nullptr) {
        c->status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "no replica resolved");
        absl::MutexLock lock(&mu);
        --pending;
        continue;
      }
      stub->async()->Fetch(&c->context, &c->request, &c->response, [c, &mu, &pending](grpc::Status s) {
        c->status = std::move(s);
        absl::MutexLock lock(&mu);
        --pending;
      });
    }
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(+[](size_t* n) { return *n == 0; }, &pending));
    }
    to_send.clear();
    for (const auto& call : calls) {
      if (call->status.ok() && call->response.status() == 200) {
        ++outcome.ok;
        continue;
      }
      std::string reason;
      const auto& trailers = call->context.GetServerTrailingMetadata();
      if (auto it = trailers.find("fetchpool-reason"); it != trailers.end()) {
        reason = std::string(it->second.data(), it->second.size());
      }
      if (call->status.error_code() == grpc::StatusCode::UNAVAILABLE && reason.empty() && wave < 5) {
        to_send.emplace_back(call->pool_key, call->request.url());
        continue;
      }
      ++outcome.failures[call->status.ok() ? absl::StrCat("HTTP ", call->response.status())
                                           : absl::StrCat(call->status.error_code(), " ", reason, " ",
                                                          call->status.error_message())];
    }
  }
  return outcome;
}

Snapshot TakeSnapshot(const std::vector<std::string>& replicas) {
  Snapshot snapshot;
  for (const std::string& replica : replicas) {
    auto stub = FetchPool::NewStub(PlainChannel(replica, ""));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    StatsResponse stats;
    grpc::Status status = stub->Stats(&context, StatsRequest(), &stats);
    if (!status.ok()) {
      std::fprintf(stderr, "Stats of %s: %s\n", replica.c_str(), status.error_message().c_str());
      continue;  // a removed replica
    }
    for (const auto& pool : stats.pools()) {
      snapshot[pool.host()][replica] = {pool.requests_total(), pool.connections_opened_total()};
    }
  }
  return snapshot;
}

// The replica that served most of key's requests between `before` and `after`.
std::string BusiestReplica(const Snapshot& before, const Snapshot& after, const std::string& key) {
  std::string busiest;
  uint64_t most = 0;
  auto it = after.find(key);
  if (it == after.end()) return busiest;
  for (const auto& [replica, counters] : it->second) {
    uint64_t earlier = 0;
    if (auto b = before.find(key); b != before.end()) {
      if (auto r = b->second.find(replica); r != b->second.end()) earlier = r->second.requests;
    }
    if (counters.requests - earlier > most) {
      most = counters.requests - earlier;
      busiest = replica;
    }
  }
  return busiest;
}

void Emit(const std::string& line) {
  std::printf("%s\n", line.c_str());
  if (const std::string path = absl::GetFlag(FLAGS_results); !path.empty()) {
    std::ofstream(path, std::ios::app) << line << "\n";
  }
}

int FailureCount(const RoundOutcome& outcome) {
  int count = 0;
  for (const auto& [what, n] : outcome.failures) count += n;
  return count;
}

std::string PrintFailures(const RoundOutcome& outcome) {
  std::vector<std::string> parts;
  for (const auto& [what, n] : outcome.failures) parts.push_back(absl::StrCat(n, " x ", what));
  return absl::StrJoin(parts, "; ");
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "resolve") {  // what ReplicaChannels sees: getaddrinfo, A and AAAA
    auto addresses = fetchpool::ReplicaChannels::Resolve(absl::GetFlag(FLAGS_target));
    if (!addresses.ok()) {
      std::fprintf(stderr, "affinity_load: %s\n", addresses.status().ToString().c_str());
      return 1;
    }
    std::printf("%s\n", absl::StrJoin(*addresses, " ").c_str());
    return 0;
  }
  const std::vector<std::string> ports = absl::GetFlag(FLAGS_origin_ports);
  const std::vector<std::string> replica_addresses = absl::GetFlag(FLAGS_replicas);
  const int pool_size = absl::GetFlag(FLAGS_pool_size);
  if (ports.empty() || replica_addresses.empty() || (mode != "host" && mode != "round_robin")) {
    std::fprintf(stderr, "affinity_load: need --mode=host|round_robin, --origin_ports, --replicas\n");
    return 2;
  }
  Router router(mode, absl::GetFlag(FLAGS_target));
  if (router.affinity()) {
    std::fprintf(stderr, "affinity_load: %s resolves to %s\n", absl::GetFlag(FLAGS_target).c_str(),
                 absl::StrJoin(router.replicas()->Addresses(), " ").c_str());
  }
  bool failed = false;
  const absl::Time start = absl::Now();
  RoundOutcome total;
  for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
    RoundOutcome outcome = RunRound(router, ports, absl::GetFlag(FLAGS_per_origin));
    total.ok += outcome.ok;
    total.retried += outcome.retried;
    for (const auto& [what, n] : outcome.failures) total.failures[what] += n;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!total.failures.empty()) {
    std::fprintf(stderr, "affinity_load: failed fetches: %s\n", PrintFailures(total).c_str());
    failed = true;
  }

  const Snapshot loaded = TakeSnapshot(replica_addresses);
  std::vector<uint64_t> connections;
  size_t most_replicas = 0;
  for (const std::string& port : ports) {
    const std::string key = absl::StrCat("http://127.0.0.1:", port);
    uint64_t sum = 0;
    size_t replicas_used = 0;
    if (auto it = loaded.find(key); it != loaded.end()) {
      for (const auto& [replica, counters] : it->second) {
        sum += counters.connections_opened;
        if (counters.requests > 0) ++replicas_used;
      }
    }
    connections.push_back(sum);
    most_replicas = std::max(most_replicas, replicas_used);
  }
  std::sort(connections.begin(), connections.end());
  const size_t n = connections.size();
  const double median = n % 2 == 1 ? connections[n / 2] : (connections[n / 2 - 1] + connections[n / 2]) / 2.0;
  const double max_ratio = static_cast<double>(connections.back()) / pool_size;
  std::string verdict = "reported";
  if (router.affinity()) {
    const bool within = max_ratio <= absl::GetFlag(FLAGS_max_ratio);
    verdict = absl::StrFormat("%s (<= %.1f)", within ? "pass" : "FAIL", absl::GetFlag(FLAGS_max_ratio));
    failed = failed || !within;
  }
  Emit(absl::StrFormat("| %s | %d | %d | %d | %.1f s | %d | %g | %d | %.2f | %s |",
                       router.affinity() ? "affinity: host" : "round_robin", ports.size(), total.ok,
                       FailureCount(total), seconds, most_replicas, median, connections.back(),
                       max_ratio, verdict));

  const std::string remove_cmd = absl::GetFlag(FLAGS_remove_cmd);
  if (router.affinity() && !remove_cmd.empty()) {
    const std::string removed = absl::GetFlag(FLAGS_removed);
    if (std::system(remove_cmd.c_str()) != 0) {
      std::fprintf(stderr, "affinity_load: %s failed\n", remove_cmd.c_str());
      return 1;
    }
    // No waiting for re-resolution: the first fetches to the dead replica fail
    // UNAVAILABLE, its channel goes TRANSIENT_FAILURE and the ring skips it.
    const RoundOutcome outcome = RunRound(router, ports, absl::GetFlag(FLAGS_per_origin));
    if (!outcome.failures.empty()) {
      std::fprintf(stderr, "affinity_load: failed fetches after removal: %s\n", PrintFailures(outcome).c_str());
      failed = true;
    }
    std::vector<std::string> survivors;
    for (const std::string& r : replica_addresses) {
      if (r != removed) survivors.push_back(r);
    }
    std::sort(survivors.begin(), survivors.end());
    // The failed fetches asked for a refresh: the removed replica must have
    // left the ring too (it is gone from the hosts file).
    router.replicas()->RefreshSoon();
    const absl::Time give_up = absl::Now() + absl::Seconds(5);
    while (router.replicas()->Addresses() != survivors && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    const std::vector<std::string> resolved = router.replicas()->Addresses();
    std::fprintf(stderr, "affinity_load: after the removal the target resolves to %s\n",
                 absl::StrJoin(resolved, " ").c_str());
    if (resolved != survivors) failed = true;
    const Snapshot after = TakeSnapshot(survivors);
    int on_removed = 0, moved = 0, moved_from_removed = 0;
    for (const std::string& port : ports) {
      const std::string key = absl::StrCat("http://127.0.0.1:", port);
      const std::string was = BusiestReplica(Snapshot(), loaded, key);
      const std::string now = BusiestReplica(loaded, after, key);
      if (was == removed) ++on_removed;
      if (now != was) {
        ++moved;
        if (was == removed) ++moved_from_removed;
      }
    }
    Emit(absl::StrFormat("| remove %s | %d | %d | %d | %d | %d |", removed, ports.size(), on_removed, moved,
                         moved_from_removed, outcome.retried));
    if (moved != on_removed || moved_from_removed != moved) {
      std::fprintf(stderr, "affinity_load: origins moved that were not on the removed replica\n");
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
