// ConfigFileWatcher (--watch_config): one call per content change, whether
// the file is rewritten in place, replaced by rename (editors) or reached
// through a swapped `..data` symlink (a Kubernetes ConfigMap volume); none
// for a change that leaves the content as it was. No network.
#include "server/config_file_watcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fetchpool {
namespace {

class ConfigFileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/fetchpool-watch-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    watcher_.reset();
    std::system(absl::StrCat("rm -rf ", dir_).c_str());
  }

  void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }
  void Watch(const std::string& path) {
    absl::StatusOr<std::unique_ptr<ConfigFileWatcher>> watcher =
        ConfigFileWatcher::Start(path, [this] {
          absl::MutexLock lock(&mu_);
          ++calls_;
        });
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = *std::move(watcher);
  }
  // The calls once `want` have come, or after 5 s; then a further 400 ms (twice
  // the settle time) must bring no more.
  int CallsAfter(int want) {
    {
      absl::MutexLock lock(&mu_);
      auto enough = [this, want]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= want; };
      mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(5));
    }
    absl::SleepFor(absl::Milliseconds(400));
    absl::MutexLock lock(&mu_);
    return calls_;
  }

  std::string dir_;
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<ConfigFileWatcher> watcher_;
};

TEST_F(ConfigFileWatcherTest, RewriteAndRenameCallOncePerNewContent) {
  const std::string file = dir_ + "/fetchpoold.textproto";
  Write(file, "max_connections_per_host: 1\n");
  Watch(file);
  Write(file, "max_connections_per_host: 2\n");  // in place
  EXPECT_EQ(CallsAfter(1), 1);
  Write(file + ".tmp", "max_connections_per_host: 3\n");  // an editor's save
  ASSERT_EQ(std::rename((file + ".tmp").c_str(), file.c_str()), 0);
  EXPECT_EQ(CallsAfter(2), 2);
  Write(file, "max_connections_per_host: 3\n");  // same content: no reload
  Write(dir_ + "/unrelated", "x");
  EXPECT_EQ(CallsAfter(2), 2);  // still 2 after the settle time, twice over
}

// What the kubelet does: the file is a symlink to ..data/FILE, ..data a
// symlink to a timestamped folder, and an update writes a new folder and
// renames a new ..data symlink over the old one.
TEST_F(ConfigFileWatcherTest, ConfigMapSymlinkSwapCalls) {
  ASSERT_EQ(mkdir((dir_ + "/..2026_12_03_v1").c_str(), 0755), 0);
  Write(dir_ + "/..2026_12_03_v1/fetchpoold.textproto", "max_connections_per_host: 1\n");
  ASSERT_EQ(symlink("..2026_12_03_v1", (dir_ + "/..data").c_str()), 0);
  const std::string file = dir_ + "/fetchpoold.textproto";
  ASSERT_EQ(symlink("..data/fetchpoold.textproto", file.c_str()), 0);
  Watch(file);

  ASSERT_EQ(mkdir((dir_ + "/..2026_12_03_v2").c_str(), 0755), 0);
  Write(dir_ + "/..2026_12_03_v2/fetchpoold.textproto", "max_connections_per_host: 2\n");
  ASSERT_EQ(symlink("..2026_12_03_v2", (dir_ + "/..data_tmp").c_str()), 0);
  ASSERT_EQ(std::rename((dir_ + "/..data_tmp").c_str(), (dir_ + "/..data").c_str()), 0);
  EXPECT_EQ(CallsAfter(1), 1);
}

TEST_F(ConfigFileWatcherTest, MissingFolderIsAnError) {
  EXPECT_FALSE(ConfigFileWatcher::Start("/nonexistent-fetchpool/x.textproto", [] {}).ok());
}

}  // namespace
}  // namespace fetchpool
