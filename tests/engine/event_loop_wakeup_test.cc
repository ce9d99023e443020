// The engine's loop must never miss a Post(): a lost wake-up leaves every
// fetch, Stats call and Shutdown of the service waiting forever (found as a
// whole-service stall in the TIME_WAIT integration test). Several threads
// post as fast as they can while the loop runs them; then every posted task
// must run without outside help. A lost wake-up leaves tasks queued forever.
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/event_loop.h"
#include "pool/clock.h"

namespace fetchpool {
namespace {

// Reads its eventfd: lets the test wake a stuck loop so it can stop.
class Drain final : public FdHandler {
 public:
  void OnFdEvent(int fd, uint32_t) override {
    uint64_t value;
    ssize_t n = read(fd, &value, sizeof value);
    (void)n;
  }
};

TEST(EventLoopWakeupTest, ConcurrentPostsAreNeverLost) {
  EventLoop loop(MonotonicClock::Get());
  std::thread runner([&] { loop.Run(); });
  const int rescue_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(rescue_fd, 0);
  Drain drain;
  std::atomic<bool> watching{false};
  loop.Post([&] {
    loop.WatchFd(rescue_fd, EPOLLIN, &drain);
    watching.store(true);
  });
  const absl::Time setup_limit = absl::Now() + absl::Seconds(5);
  while (!watching.load() && absl::Now() < setup_limit) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(watching.load());

  constexpr int kPosters = 3;
  const absl::Duration kRunFor = absl::Seconds(3);
  // No progress this long ends the run early (a lost wake-up, or a starved
  // loop thread on a loaded machine: the settle phase tells them apart).
  const absl::Duration kStall = absl::Seconds(1);
  const absl::Duration kSettle = absl::Seconds(5);
  std::atomic<uint64_t> posted{0};
  std::atomic<uint64_t> ran{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> posters;
  for (int p = 0; p < kPosters; ++p) {
    posters.emplace_back([&] {
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        posted.fetch_add(1, std::memory_order_relaxed);
        loop.Post([&] { ran.fetch_add(1, std::memory_order_relaxed); });
        // Bound the backlog, and vary the timing of posts against the loop.
        if (i % 64 == 0) std::this_thread::yield();
        // (sleeping, not spinning: spinners could starve the loop thread).
        while (posted.load(std::memory_order_relaxed) - ran.load(std::memory_order_relaxed) >
                   100000 &&
               !stop.load(std::memory_order_relaxed)) {
          absl::SleepFor(absl::Microseconds(200));
        }
      }
    });
  }
  const absl::Time end = absl::Now() + kRunFor;
  bool stalled = false;
  uint64_t last = 0;
  absl::Time last_progress = absl::Now();
  while (absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(20));
    const uint64_t now_ran = ran.load();
    if (now_ran != last) {
      last = now_ran;
      last_progress = absl::Now();
    } else if (absl::Now() - last_progress > kStall) {
      stalled = true;
      break;
    }
  }
  stop.store(true);
  for (auto& t : posters) t.join();
  // Everything posted must run, without outside help.
  const absl::Time settle = absl::Now() + kSettle;
  while (ran.load() != posted.load() && absl::Now() < settle) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const uint64_t total_posted = posted.load();
  const uint64_t total_ran = ran.load();
  EXPECT_EQ(total_ran, total_posted)
      << "posted tasks never ran: a lost wake-up (progress stopped after " << last << ")";
  if (stalled && total_ran == total_posted) {
    std::cout << "[note] the loop made no progress for " << absl::FormatDuration(kStall)
              << " (loaded machine) but then ran everything" << std::endl;
  }
  std::cout << "[figures] event loop: " << total_ran << " of " << total_posted
            << " posted tasks ran (" << kPosters << " posting threads, "
            << absl::FormatDuration(kRunFor) << " run)" << std::endl;
  // Stop, waking the loop through our own descriptor in case it is stuck.
  loop.Stop();
  uint64_t one = 1;
  ssize_t n = write(rescue_fd, &one, sizeof one);
  (void)n;
  runner.join();
  close(rescue_fd);
}

}  // namespace
}  // namespace fetchpool
