#include "engine/time_wait_counter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace fetchpool {
namespace {

// TCP_TIME_WAIT in the kernel's state numbering (include/net/tcp_states.h).
constexpr int kTcpTimeWait = 6;

class NetlinkSocket {
 public:
  NetlinkSocket() : fd_(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) {}
  ~NetlinkSocket() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

std::string RemoteKey(const inet_diag_msg& msg) {
  char ip[INET6_ADDRSTRLEN] = {};
  const int port = ntohs(msg.id.idiag_dport);
  if (msg.idiag_family == AF_INET) {
    inet_ntop(AF_INET, msg.id.idiag_dst, ip, sizeof(ip));
    return absl::StrCat(ip, ":", port);
  }
  inet_ntop(AF_INET6, msg.id.idiag_dst, ip, sizeof(ip));
  return absl::StrCat("[", ip, "]:", port);
}

// One dump for one address family, adding into `counts`.
absl::Status DumpFamily(int family, absl::flat_hash_map<std::string, uint32_t>& counts) {
  NetlinkSocket sock;
  if (sock.fd() < 0) return absl::UnavailableError(absl::StrCat("netlink socket: ", strerror(errno)));
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = static_cast<uint8_t>(family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = 1u << kTcpTimeWait;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(sock.fd(), &message, sizeof(message), 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof(kernel)) < 0) {
    return absl::UnavailableError(absl::StrCat("sock_diag request: ", strerror(errno)));
  }
  alignas(nlmsghdr) char buffer[32768];
  while (true) {
    const ssize_t n = recv(sock.fd(), buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("sock_diag read: ", strerror(errno)));
    }
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return absl::OkStatus();
      if (h->nlmsg_type == NLMSG_ERROR) {
        return absl::UnavailableError("sock_diag answered with an error");
      }
      const auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (msg->idiag_state == kTcpTimeWait) ++counts[RemoteKey(*msg)];
    }
  }
}

}  // namespace

absl::StatusOr<TimeWaitCounts> CountTimeWaitByRemote() {
  TimeWaitCounts counts;
  for (int family : {AF_INET, AF_INET6}) {
    absl::Status status = DumpFamily(family, counts);
    if (!status.ok()) return status;
  }
  return counts;
}

std::shared_ptr<const TimeWaitCounts> TimeWaitCache::Get(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (now - counted_at_ >= max_age_) {
    absl::StatusOr<TimeWaitCounts> counts = CountTimeWaitByRemote();
    counts_ = counts.ok() ? std::make_shared<const TimeWaitCounts>(*std::move(counts)) : nullptr;
    counted_at_ = now;
  }
  return counts_;
}

}  // namespace fetchpool
