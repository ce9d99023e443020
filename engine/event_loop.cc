#include "engine/event_loop.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace fetchpool {
namespace {

constexpr uint64_t kWakeTag = ~uint64_t{0};
constexpr int kMaxEventsPerWait = 256;

uint64_t Tag(int fd, uint32_t generation) {
  return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
}

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::abort();
}

}  // namespace

void EventLoop::AssertInLoopThread(const char* who) const {
  if (InLoopThread()) return;
  std::fprintf(stderr, "fetchpool: %s used off its loop thread\n", who);
  std::abort();
}

EventLoop::EventLoop(const Clock& clock) : clock_(clock) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) Die("epoll_create1");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) Die("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) Die("epoll_ctl(wake)");
}

EventLoop::~EventLoop() {
  close(wake_fd_);
  close(epoll_fd_);
}

void EventLoop::Post(absl::AnyInvocable<void()> task) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    posted_.push_back(std::move(task));
    wake = !wake_pending_;
    wake_pending_ = true;
  }
  // One eventfd write per batch: a burst of posts costs one wake-up.
  if (wake) {
    uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof(one));
    (void)n;  // EAGAIN means the counter is already non-zero: the loop wakes anyway
  }
}

void EventLoop::Stop() {
  stop_.store(true);
  Post([] {});
}

void EventLoop::WatchFd(int fd, uint32_t events, FdHandler* handler) {
  if (fd < 0) return;
  if (static_cast<size_t>(fd) >= watches_.size()) watches_.resize(fd + 1024);
  Watch& w = watches_[fd];
  w.drop_pending = false;
  w.handler = handler;
  // Same owner, same events: the registration in the kernel already says it.
  if (w.in_kernel && w.owner == handler && w.events == events) return;
  // A new owner gets a new generation, so events fetched for the previous
  // one in this iteration are not delivered to it.
  const bool is_new = !w.in_kernel;
  if (w.owner != handler || is_new) w.generation = next_generation_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = Tag(fd, w.generation);
  if (epoll_ctl(epoll_fd_, is_new ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) {
    // The kernel may still hold a registration for an fd number we forgot
    // (closed and reopened by someone else between our calls): retry as the
    // other operation rather than lose the watch.
    if (epoll_ctl(epoll_fd_, is_new ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
      Die("epoll_ctl(watch)");
    }
  }
  w.in_kernel = true;
  w.owner = handler;
  w.events = events;
}

void EventLoop::UnwatchFd(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= watches_.size()) return;
  Watch& w = watches_[fd];
  if (w.in_kernel) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // ENOENT/EBADF: already gone
  w = Watch{};
}

void EventLoop::UnwatchFdSoon(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= watches_.size()) return;
  Watch& w = watches_[fd];
  w.handler = nullptr;
  if (!w.in_kernel || w.drop_pending) return;
  w.drop_pending = true;
  pending_drops_.push_back(fd);
}

void EventLoop::ForgetFd(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= watches_.size()) return;
  watches_[fd] = Watch{};  // a pending drop of it is cancelled too
}

void EventLoop::DropPendingWatches() {
  for (int fd : pending_drops_) {
    if (watches_[fd].drop_pending) UnwatchFd(fd);
  }
  pending_drops_.clear();
}

EventLoop::TimerId EventLoop::AddTimer(absl::Time when, absl::AnyInvocable<void()> callback) {
  const TimerId id = next_timer_id_++;
  timers_.emplace(id, std::move(callback));
  timer_heap_.emplace(when, id);
  return id;
}

void EventLoop::CancelTimer(TimerId id) { timers_.erase(id); }

void EventLoop::RunPostedTasks() {
  // Drain the eventfd before taking the queue, never after: a Post() that
  // lands between the two either has its task in this batch or writes a
  // fresh wake-up that stays readable. Draining last would swallow that
  // wake-up while wake_pending_ stays set, and the loop would sleep forever.
  uint64_t drained;
  ssize_t n = read(wake_fd_, &drained, sizeof(drained));
  (void)n;
  std::vector<absl::AnyInvocable<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    tasks.swap(posted_);
    wake_pending_ = false;
  }
  for (auto& task : tasks) task();
}

void EventLoop::RunDueTimers() {
  const absl::Time now = clock_.Now();
  while (!timer_heap_.empty() && timer_heap_.top().first <= now) {
    const TimerId id = timer_heap_.top().second;
    timer_heap_.pop();
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled
    absl::AnyInvocable<void()> callback = std::move(it->second);
    timers_.erase(it);
    callback();
  }
  // Cancelled entries pile up at the top only until they are due; drop
  // them early when most of the heap is dead so memory stays bounded.
  if (timer_heap_.size() > 1024 && timer_heap_.size() > 4 * timers_.size()) {
    std::vector<TimerEntry> live;
    while (!timer_heap_.empty()) {
      if (timers_.contains(timer_heap_.top().second)) live.push_back(timer_heap_.top());
      timer_heap_.pop();
    }
    for (const TimerEntry& e : live) timer_heap_.push(e);
  }
}

int EventLoop::NextTimeoutMs() {
  while (!timer_heap_.empty() && !timers_.contains(timer_heap_.top().second)) timer_heap_.pop();
  if (timer_heap_.empty()) return -1;
  const absl::Duration left = timer_heap_.top().first - clock_.Now();
  if (left <= absl::ZeroDuration()) return 0;
  // Round up: waking a little late is fine, waking early spins.
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 60000));
}

void EventLoop::Run() {
  loop_thread_.store(std::this_thread::get_id());
  epoll_event events[kMaxEventsPerWait];
  while (!stop_.load()) {
    if (before_sleep_) before_sleep_();
    DropPendingWatches();
    const int n = epoll_wait(epoll_fd_, events, kMaxEventsPerWait, NextTimeoutMs());
    if (n < 0 && errno != EINTR) Die("epoll_wait");
    bool posted = false;
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        posted = true;
        continue;
      }
      const int fd = static_cast<int>(tag & 0xffffffffu);
      const uint32_t generation = static_cast<uint32_t>(tag >> 32);
      if (static_cast<size_t>(fd) >= watches_.size()) continue;
      const Watch& w = watches_[fd];
      if (w.handler == nullptr || w.generation != generation) continue;  // stale event
      w.handler->OnFdEvent(fd, events[i].events);
    }
    RunDueTimers();
    if (posted) {
      RunPostedTasks();
      // Zero-delay timers the tasks set (curl's "act now" after a new
      // transfer) run in this iteration, before DropPendingWatches, so a
      // socket curl takes back from the idle watch keeps its registration.
      RunDueTimers();
    }
  }
  RunPostedTasks();
  if (before_sleep_) before_sleep_();  // what the last tasks left for it
}

}  // namespace fetchpool
