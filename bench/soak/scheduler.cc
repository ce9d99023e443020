#include "bench/soak/scheduler.h"

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/soak/cancellable.h"
#include "bench/soak/fetch_stream_call.h"
#include "bench/soak/ledger.h"
#include "bench/soak/stats_calls.h"
#include "bench/soak/unary_call.h"

namespace fetchpool::soak {

absl::Time RunLoad(const Options& o, const std::vector<Route>& routes, const Route& idle_burst_route,
                   fetchpool::v1::FetchPool::Stub* stub, fetchpool::v1::FetchPool::Stub* stream_stub,
                   const Sampler& sampler, std::mt19937_64& rng, absl::Time start, absl::Time end) {
  std::vector<double> unary_w, stream_w;
  for (const Route& r : routes) {
    unary_w.push_back(r.unary_weight);
    stream_w.push_back(r.stream_weight);
  }
  std::discrete_distribution<size_t> pick_unary(unary_w.begin(), unary_w.end());
  std::discrete_distribution<size_t> pick_stream(stream_w.begin(), stream_w.end());

  const double unary_rate = o.unary_rate;
  const double stream_rate = o.stream_rate;
  const double stats_rate = o.stats_rate;
  const double cancel_fraction = o.cancel_fraction;
  const int n_streams = o.streams;
  const int n_watchers = o.watchers;
  const int window_per_stream = o.stream_window;
  const int idle_burst = o.idle_burst;
  const int64_t max_unary = o.max_unary_in_flight;
  const std::vector<std::string> pool_keys = {origins[kNormal], origins[kIdle], origins[kSlow]};

  struct ActiveStream {
    std::shared_ptr<StreamCall> call;
    absl::Time cancel_at;  // InfiniteFuture: closes at ends_at()
    double credit = 0;
  };
  std::vector<ActiveStream> streams;
  std::vector<std::shared_ptr<WatchCall>> watchers;
  CancelQueue cancels;
  int stream_serial = 0;
  double unary_credit = 0, stats_credit = 0;
  absl::Time next_burst = start + absl::Milliseconds(500);
  absl::Time last = start;
  int64_t progress_every = 30, next_progress = progress_every;

  auto launch_unary = [&](const Route& route) {
    if (unary_in_flight.load() >= max_unary) {
      ledger->Skipped(kUnary);
      return;
    }
    Prepared p;
    p.request.set_id(absl::StrCat("u", next_id.fetch_add(1)));
    route.make(rng, false, &p);
    auto call = std::make_shared<UnaryCall>(route, std::move(p));
    call->Start(stub);
    if (Uniform01(rng) < cancel_fraction) {
      cancels.push({absl::Now() + absl::Milliseconds(Uniform(rng, 0, 400)), call});
    }
  };

  // ---- the load ----
  while (true) {
    const absl::Time now = absl::Now();
    if (now >= end || sampler.gone()) break;
    const double dt = absl::ToDoubleSeconds(now - last);
    last = now;

    unary_credit += unary_rate * dt;
    for (; unary_credit >= 1; unary_credit -= 1) launch_unary(routes[pick_unary(rng)]);

    if (now >= next_burst) {
      for (int i = 0; i < idle_burst; ++i) launch_unary(idle_burst_route);
      // Mostly just under or over the origin's 1 s idle close; sometimes a
      // longer pause, after which every pooled connection has been closed.
      next_burst = now + (Uniform01(rng) < 0.2 ? absl::Milliseconds(Uniform(rng, 1500, 2500))
                                              : absl::Milliseconds(Uniform(rng, 900, 1100)));
    }

    stats_credit += stats_rate * dt;
    for (; stats_credit >= 1; stats_credit -= 1) {
      const double u = Uniform01(rng);
      auto call = std::make_shared<StatsCall>(u < 0.3 ? pool_keys[Uniform(rng, 0, 2)] : "");
      call->Start(stub);
      // A Stats answer takes about a millisecond, less than a scheduler
      // tick: a tenth are cancelled at once, racing the answer.
      if (u > 0.9) call->Cancel();
    }

    // Streams: close or cancel those whose time is up; keep n_streams open.
    for (auto it = streams.begin(); it != streams.end();) {
      if (now >= it->cancel_at) {
        it->call->Cancel();
        it = streams.erase(it);
      } else if (now >= it->call->ends_at()) {
        it->call->Close();
        it = streams.erase(it);
      } else {
        it->credit = std::min(it->credit + stream_rate * dt, static_cast<double>(window_per_stream));
        while (it->credit >= 1 && it->call->Send(rng, routes[pick_stream(rng)])) it->credit -= 1;
        ++it;
      }
    }
    while (static_cast<int>(streams.size()) < n_streams) {
      const absl::Duration life = absl::Milliseconds(Uniform(rng, 3000, 12000));
      const bool cancel = Uniform01(rng) < 0.25;
      auto call = std::make_shared<StreamCall>(++stream_serial, life, cancel, window_per_stream);
      call->Start(stream_stub);
      ActiveStream a{call, absl::InfiniteFuture(), 0};
      if (cancel) a.cancel_at = now + life * Uniform01(rng);
      streams.push_back(std::move(a));
    }

    // WatchStats: cancelled when their time is up, or left to their deadline.
    for (auto it = watchers.begin(); it != watchers.end();) {
      if ((*it)->by_deadline() ? (*it)->done() : now >= (*it)->ends_at()) {
        if (!(*it)->by_deadline()) (*it)->Cancel();
        it = watchers.erase(it);
      } else {
        ++it;
      }
    }
    while (static_cast<int>(watchers.size()) < n_watchers) {
      const double u = Uniform01(rng);
      auto call = std::make_shared<WatchCall>(absl::Milliseconds(Uniform(rng, 100, 500)),
                                              absl::Milliseconds(Uniform(rng, 2000, 10000)), u < 0.3,
                                              u > 0.8 ? pool_keys[Uniform(rng, 0, 2)] : "");
      call->Start(stub);
      watchers.push_back(std::move(call));
    }

    while (!cancels.empty() && cancels.top().at <= now) {
      cancels.top().call->Cancel();
      cancels.pop();
    }

    const double elapsed = absl::ToDoubleSeconds(now - start);
    if (elapsed >= next_progress) {
      std::fprintf(stderr, "soak_driver: t=%.0fs unary in flight %" PRId64 ", outstanding %" PRId64
                   ", violations so far %zu kinds\n",
                   elapsed, unary_in_flight.load(), ledger->TotalOutstanding(), [] {
                     std::lock_guard<std::mutex> l(ledger->mu_);
                     return ledger->violations_.size();
                   }());
      next_progress += progress_every;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Time load_end = absl::Now();

  // ---- wind down: half-close the streams, cancel the watchers, await every answer ----
  for (auto& s : streams) s.call->Close();
  streams.clear();
  for (auto& w : watchers) {
    if (!w->by_deadline()) w->Cancel();
  }
  watchers.clear();
  const absl::Time drain_until = absl::Now() + o.drain;
  while (ledger->TotalOutstanding() > 0 && absl::Now() < drain_until) {
    while (!cancels.empty() && cancels.top().at <= absl::Now()) {
      cancels.top().call->Cancel();
      cancels.pop();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  while (!cancels.empty()) cancels.pop();
  return load_end;
}

}  // namespace fetchpool::soak
