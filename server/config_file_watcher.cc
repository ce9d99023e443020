#include "server/config_file_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"

namespace fetchpool {
namespace {

// How long events must stop before the file is read: a ConfigMap update
// and an editor's save are each a burst of a few events.
constexpr int kSettleMs = 200;

// The content, or nullopt when it cannot be read (mid-swap): not a change.
absl::optional<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConfigFileWatcher>> ConfigFileWatcher::Start(
    std::string path, std::function<void()> changed) {
  const int inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (inotify_fd < 0) {
    return absl::InternalError(absl::StrCat("--watch_config: inotify_init1: ", std::strerror(errno)));
  }
  const std::string dir = DirectoryOf(path);
  if (inotify_add_watch(inotify_fd, dir.c_str(),
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
    const int error = errno;
    close(inotify_fd);
    return absl::InvalidArgumentError(
        absl::StrCat("--watch_config: cannot watch ", dir, ": ", std::strerror(error)));
  }
  const int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    close(inotify_fd);
    return absl::InternalError(absl::StrCat("--watch_config: eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<ConfigFileWatcher>(
      new ConfigFileWatcher(std::move(path), std::move(changed), inotify_fd, stop_fd));
}

ConfigFileWatcher::ConfigFileWatcher(std::string path, std::function<void()> changed,
                                     int inotify_fd, int stop_fd)
    : path_(std::move(path)),
      changed_(std::move(changed)),
      inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      last_content_(ReadAll(path_)),
      thread_([this] { Run(); }) {}

ConfigFileWatcher::~ConfigFileWatcher() {
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  thread_.join();
  close(inotify_fd_);
  close(stop_fd_);
}

void ConfigFileWatcher::Run() {
  bool pending = false;  // events seen, waiting for them to settle
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, pending ? kSettleMs : -1);
    if (ready < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
      // Any event in the directory may be the file's (a symlink swap names
      // `..data`, not the file): drain them and look at the content.
      alignas(inotify_event) char buffer[4096];
      while (read(inotify_fd_, buffer, sizeof(buffer)) > 0) {
      }
      pending = true;
      continue;
    }
    if (!pending) continue;
    pending = false;
    absl::optional<std::string> content = ReadAll(path_);
    if (!content.has_value() || content == last_content_) continue;
    last_content_ = std::move(content);
    changed_();
  }
}

}  // namespace fetchpool
