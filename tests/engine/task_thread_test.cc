#include "engine/task_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace fetchpool {
namespace {

TEST(TaskThreadTest, RunsTasksInPostingOrderOnAnotherThread) {
  TaskThread worker;
  std::vector<int> order;  // touched only by the worker until Stop() joins it
  std::thread::id ran_on;
  for (int i = 0; i < 1000; ++i) {
    worker.Post([&order, &ran_on, i] {
      order.push_back(i);
      ran_on = std::this_thread::get_id();
    });
  }
  worker.Stop();
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[i], i);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(TaskThreadTest, StopRunsWhatIsQueuedAndDropsLaterPosts) {
  TaskThread worker;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  worker.Post([released] { released.wait(); });  // holds the queue behind it
  for (int i = 0; i < 10; ++i) worker.Post([&ran] { ++ran; });
  std::thread stopper([&worker] { worker.Stop(); });
  release.set_value();
  stopper.join();
  EXPECT_EQ(ran.load(), 10);
  worker.Post([&ran] { ++ran; });
  worker.Stop();  // idempotent
  EXPECT_EQ(ran.load(), 10);
}

TEST(TaskThreadTest, PostsFromManyThreadsAllRun) {
  std::atomic<int> ran{0};
  {
    TaskThread worker;
    std::vector<std::thread> posters;
    for (int t = 0; t < 4; ++t) {
      posters.emplace_back([&] {
        for (int i = 0; i < 2500; ++i) worker.Post([&ran] { ++ran; });
      });
    }
    for (auto& p : posters) p.join();
  }  // the destructor stops: everything posted before it has run
  EXPECT_EQ(ran.load(), 10000);
}

}  // namespace
}  // namespace fetchpool
