#ifndef FETCHPOOL_ENGINE_EVENT_LOOP_H_
#define FETCHPOOL_ENGINE_EVENT_LOOP_H_

#include <sys/epoll.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <cstdint>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "pool/clock.h"

namespace fetchpool {

// Receives readiness events for the descriptors it watches.
class FdHandler {
 public:
  virtual ~FdHandler() = default;
  virtual void OnFdEvent(int fd, uint32_t epoll_events) = 0;
};

// One thread's epoll loop with timers and a cross-thread task queue. Only
// Post() and Stop() may be called from other threads; everything else runs
// on the loop thread.
class EventLoop {
 public:
  using TimerId = uint64_t;

  explicit EventLoop(const Clock& clock);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until Stop(); the calling thread becomes the loop thread.
  void Run();
  void Stop();  // thread-safe
  // Runs `task` on the loop thread soon, in posting order. Thread-safe.
  void Post(absl::AnyInvocable<void()> task);
  bool InLoopThread() const { return std::this_thread::get_id() == loop_thread_.load(); }
  // Aborts, naming `who`, when called off the loop thread: the check at
  // the entry points of loop-only code.
  void AssertInLoopThread(const char* who) const;

  // Starts or changes the watch on `fd` (EPOLLIN/EPOLLOUT/EPOLLRDHUP...).
  // Re-watching with the events the kernel already has costs no syscall.
  void WatchFd(int fd, uint32_t events, FdHandler* handler);
  // Stops watching `fd`; call before closing it. No event for it is
  // delivered afterwards, even one already fetched in this iteration.
  void UnwatchFd(int fd);
  // Like UnwatchFd for a descriptor that stays open: no event is delivered
  // from now on, but the kernel registration is only dropped at the end of
  // this loop iteration, and a WatchFd before then with the same events
  // and handler keeps it without a syscall. A keep-alive connection moving
  // between idle and busy (our watch, then curl's) thus costs no epoll_ctl.
  // Closing the descriptor still needs UnwatchFd first.
  void UnwatchFdSoon(int fd);
  // For a descriptor someone else has already closed: forgets the watch
  // without a syscall. The kernel dropped the registration at close, and an
  // epoll_ctl now would name a number that another thread may have reused
  // (TSan reports that as a race on the descriptor, and rightly).
  void ForgetFd(int fd);

  TimerId AddTimer(absl::Time when, absl::AnyInvocable<void()> callback);
  void CancelTimer(TimerId id);  // no-op for a fired or unknown timer

  // Runs on the loop thread after each batch of events and timers, before
  // it sleeps: the place to batch work such as delivering the answers the
  // iteration produced.
  void SetBeforeSleepHook(absl::AnyInvocable<void()> hook) { before_sleep_ = std::move(hook); }

  const Clock& clock() const { return clock_; }

 private:
  struct Watch {
    FdHandler* handler = nullptr;  // null: no event is delivered
    FdHandler* owner = nullptr;    // the handler the kernel registration was made for
    uint32_t generation = 0;       // guards against events for a reused fd number
    uint32_t events = 0;           // as registered in the kernel
    bool in_kernel = false;
    bool drop_pending = false;     // UnwatchFdSoon: drop at the end of the iteration
  };
  void DropPendingWatches();
  void RunPostedTasks();
  void RunDueTimers();
  int NextTimeoutMs();

  const Clock& clock_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Post() wakes the loop with it
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> loop_thread_;

  std::vector<Watch> watches_;  // indexed by fd
  std::vector<int> pending_drops_;  // fds given to UnwatchFdSoon this iteration
  uint32_t next_generation_ = 1;

  TimerId next_timer_id_ = 1;
  using TimerEntry = std::pair<absl::Time, TimerId>;
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<TimerEntry>> timer_heap_;
  absl::flat_hash_map<TimerId, absl::AnyInvocable<void()>> timers_;  // live timers only

  absl::AnyInvocable<void()> before_sleep_;

  // Protects the queue of tasks posted from other threads. A std::mutex,
  // not absl::Mutex: Debian's Abseil is not built for ThreadSanitizer, which
  // then cannot see absl::Mutex ordering and reports false races.
  std::mutex post_mu_;
  std::vector<absl::AnyInvocable<void()>> posted_ ABSL_GUARDED_BY(post_mu_);
  bool wake_pending_ ABSL_GUARDED_BY(post_mu_) = false;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_EVENT_LOOP_H_
