#include "tests/integration/ssrf_canary.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fetchpool::testing {

CanaryListener::CanaryListener(std::string address, int port)
    : address_(std::move(address)), port_(port) {}

CanaryListener::~CanaryListener() { Stop(); }

std::string CanaryListener::name() const {
  return absl::StrContains(address_, ':') ? absl::StrCat("[", address_, "]:", port_)
                                          : absl::StrCat(address_, ":", port_);
}

absl::Status CanaryListener::Start() {
  sockaddr_storage storage = {};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, address_.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port_));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, address_.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port_));
    len = sizeof *v6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("canary: bad address ", address_));
  }
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  listen_fd_ = socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (stop_fd_ < 0 || listen_fd_ < 0) {
    return absl::InternalError(absl::StrCat("canary socket: ", std::strerror(errno)));
  }
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (storage.ss_family == AF_INET6) {
    setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&storage), len) != 0 ||
      listen(listen_fd_, 64) != 0) {
    return absl::InternalError(
        absl::StrCat("canary bind/listen ", name(), ": ", std::strerror(errno)));
  }
  thread_ = std::thread(&CanaryListener::AcceptLoop, this);
  return absl::OkStatus();
}

void CanaryListener::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) break;
      accepted_.fetch_add(1);
      close(fd);
    }
  }
}

void CanaryListener::Stop() {
  if (thread_.joinable()) {
    eventfd_write(stop_fd_, 1);
    thread_.join();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
  listen_fd_ = -1;
  stop_fd_ = -1;
}

}  // namespace fetchpool::testing
