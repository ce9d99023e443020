#ifndef FETCHPOOL_ENGINE_TASK_THREAD_H_
#define FETCHPOOL_ENGINE_TASK_THREAD_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"

namespace fetchpool {

// One thread that runs posted tasks in posting order: work handed off the
// event loop so the loop does not wait for it (building a Stats answer for
// 10,000 pools takes milliseconds every fetch would otherwise wait). Stop()
// runs what is queued, then joins; tasks posted after it are dropped.
class TaskThread {
 public:
  TaskThread();
  ~TaskThread() { Stop(); }
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  void Post(absl::AnyInvocable<void()> task);  // thread-safe
  void Stop();                                 // thread-safe, idempotent

 private:
  void Run();

  // Protects the queue and the stop flag. std::mutex rather than
  // absl::Mutex for ThreadSanitizer (see EventLoop::post_mu_).
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::once_flag joined_;
  std::thread thread_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_TASK_THREAD_H_
