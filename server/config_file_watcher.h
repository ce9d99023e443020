#ifndef FETCHPOOL_SERVER_CONFIG_FILE_WATCHER_H_
#define FETCHPOOL_SERVER_CONFIG_FILE_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"

namespace fetchpool {

// --watch_config: calls `changed` when the config file's content changes.
//
// It watches the file's directory with inotify, not the file: a Kubernetes
// ConfigMap volume replaces the file by swapping a `..data` symlink, and
// editors save by rename, so the file's own inode changes every time. Events
// are let settle for a moment, then the file is read; `changed` runs only
// when its content differs from the last content seen (several events for
// one edit make one reload; a touch makes none).
//
// Thread: its own. `changed` runs on it, one call at a time.
class ConfigFileWatcher {
 public:
  static absl::StatusOr<std::unique_ptr<ConfigFileWatcher>> Start(std::string path,
                                                                  std::function<void()> changed);
  ~ConfigFileWatcher();  // stops and joins; no `changed` call runs after it
  ConfigFileWatcher(const ConfigFileWatcher&) = delete;
  ConfigFileWatcher& operator=(const ConfigFileWatcher&) = delete;

 private:
  ConfigFileWatcher(std::string path, std::function<void()> changed, int inotify_fd, int stop_fd);
  void Run();

  const std::string path_;
  const std::function<void()> changed_;
  const int inotify_fd_;
  const int stop_fd_;  // an eventfd: the destructor writes it
  absl::optional<std::string> last_content_;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_CONFIG_FILE_WATCHER_H_
