#include "bench/soak/proc_sampler.h"

#include <dirent.h>
#include <sys/types.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/soak/invariants.h"
#include "bench/soak/ledger.h"
#include "bench/soak/stats_calls.h"

namespace fetchpool::soak {

bool ReadProc(int pid, Sample* s) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    int64_t v;
    if (absl::StartsWith(line, "VmRSS:")) {
      std::istringstream(line.substr(6)) >> v;
      s->rss_kb = v;
    } else if (absl::StartsWith(line, "Threads:")) {
      std::istringstream(line.substr(8)) >> v;
      s->threads = v;
    }
  }
  DIR* d = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (d == nullptr) return false;
  int64_t n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  s->fds = n;
  return s->rss_kb >= 0 && s->threads >= 0;
}

void Sampler::Run(const std::atomic<bool>* stop) {
  absl::Time next = absl::Now();
  while (!stop->load()) {
    TakeOne();
    next += interval_;
    while (!stop->load() && absl::Now() < next) absl::SleepFor(std::min(absl::Milliseconds(50), next - absl::Now()));
  }
}

Sample Sampler::TakeOne() {
  Sample s;
  s.t = absl::ToDoubleSeconds(absl::Now() - start_);
  if (!ReadProc(pid_, &s)) {
    ledger->Violation("fetchpoold is gone", absl::StrCat("/proc/", pid_, " unreadable at t=", s.t));
    gone_ = true;
  }
  fetchpool::v1::StatsResponse r;
  if (SyncStats(stub_, &r, absl::Seconds(5))) {
    s.stats_ok = true;
    CheckStats(r, "sampler");
    for (const auto& p : r.pools()) {
      s.busy += p.busy_connections();
      s.idle += p.idle_connections();
      s.connecting += p.connecting_connections();
      s.waiting += p.wait_queue_length();
      s.opened += p.connections_opened_total();
      s.closed += p.connections_closed_total();
    }
    s.pools = r.pools_size();
  } else {
    ledger->Violation("sampler's Stats call failed", absl::StrCat("t=", s.t));
  }
  std::lock_guard<std::mutex> l(mu_);
  samples_.push_back(s);
  return s;
}

std::vector<Sample> Sampler::samples() {
  std::lock_guard<std::mutex> l(mu_);
  return samples_;
}

}  // namespace fetchpool::soak
