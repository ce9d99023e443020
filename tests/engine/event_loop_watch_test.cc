// The loop's fd watches: UnwatchFdSoon stops delivery at once but keeps the
// kernel registration until the end of the iteration, so a connection moving
// between the pool's idle watch and curl's costs no epoll_ctl. What must hold
// whatever the timing: no event after an unwatch, events to the current
// handler only, and a watch taken back within the iteration still works.
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "engine/event_loop.h"
#include "pool/clock.h"

namespace fetchpool {
namespace {

// Counts events; reads the eventfd so a level-triggered watch stops firing.
class Counter final : public FdHandler {
 public:
  void OnFdEvent(int fd, uint32_t) override {
    uint64_t value;
    ssize_t n = read(fd, &value, sizeof value);
    (void)n;
    events.fetch_add(1);
  }
  std::atomic<int> events{0};
};

// A loop on its own thread; tasks run on it and are waited for.
class LoopThread {
 public:
  LoopThread() : runner_([this] { loop_.Run(); }) {}
  ~LoopThread() {
    loop_.Stop();
    runner_.join();
  }
  void RunAndWait(absl::AnyInvocable<void()> task) {
    absl::Notification done;
    loop_.Post([&] {
      task();
      done.Notify();
    });
    done.WaitForNotification();
  }
  EventLoop& loop() { return loop_; }

 private:
  EventLoop loop_{MonotonicClock::Get()};
  std::thread runner_;
};

void Signal(int fd) {
  uint64_t one = 1;
  ssize_t n = write(fd, &one, sizeof one);
  (void)n;
}

// Waits a little for events that may still come (none should, or `want`).
bool Settles(const Counter& c, int want) {
  const absl::Time limit = absl::Now() + absl::Seconds(2);
  while (c.events.load() < want && absl::Now() < limit) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(50));
  return c.events.load() == want;
}

TEST(EventLoopWatchTest, UnwatchSoonStopsDeliveryAndDropsTheWatch) {
  LoopThread t;
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  Counter c;
  t.RunAndWait([&] { t.loop().WatchFd(fd, EPOLLIN, &c); });
  Signal(fd);
  ASSERT_TRUE(Settles(c, 1));
  t.RunAndWait([&] { t.loop().UnwatchFdSoon(fd); });
  Signal(fd);  // readable, but nobody watches it any more
  EXPECT_TRUE(Settles(c, 1));
  t.RunAndWait([&] { t.loop().UnwatchFd(fd); });
  close(fd);
}

TEST(EventLoopWatchTest, WatchTakenBackInTheSameIterationKeepsWorking) {
  LoopThread t;
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  Counter c;
  t.RunAndWait([&] { t.loop().WatchFd(fd, EPOLLIN, &c); });
  for (int i = 1; i <= 20; ++i) {
    t.RunAndWait([&] {
      t.loop().UnwatchFdSoon(fd);
      t.loop().WatchFd(fd, EPOLLIN, &c);  // same events, same handler: kept
    });
    Signal(fd);
    ASSERT_TRUE(Settles(c, i)) << "iteration " << i;
  }
  t.RunAndWait([&] { t.loop().UnwatchFd(fd); });
  close(fd);
}

TEST(EventLoopWatchTest, NewHandlerGetsEventsOldOneDoesNot) {
  LoopThread t;
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  Counter first, second;
  t.RunAndWait([&] { t.loop().WatchFd(fd, EPOLLIN, &first); });
  t.RunAndWait([&] {
    t.loop().UnwatchFdSoon(fd);
    t.loop().WatchFd(fd, EPOLLIN | EPOLLRDHUP, &second);
  });
  Signal(fd);
  EXPECT_TRUE(Settles(second, 1));
  EXPECT_EQ(first.events.load(), 0);
  t.RunAndWait([&] { t.loop().UnwatchFd(fd); });
  close(fd);
}

// An fd number closed and reused while its drop was pending: the new
// descriptor must get a registration of its own, not the dead one's.
TEST(EventLoopWatchTest, ClosedAndReusedNumberIsWatchedAfresh) {
  LoopThread t;
  Counter c;
  int reused = -1;
  t.RunAndWait([&] {
    const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    t.loop().WatchFd(fd, EPOLLIN, &c);
    t.loop().UnwatchFdSoon(fd);
    t.loop().UnwatchFd(fd);  // before close, as the contract says
    close(fd);
    reused = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    t.loop().WatchFd(reused, EPOLLIN, &c);
  });
  ASSERT_GE(reused, 0);
  Signal(reused);
  EXPECT_TRUE(Settles(c, 1));
  t.RunAndWait([&] { t.loop().UnwatchFd(reused); });
  close(reused);
}

}  // namespace
}  // namespace fetchpool
