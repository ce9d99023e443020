#ifndef FETCHPOOL_TESTS_INTEGRATION_SSRF_CANARY_H_
#define FETCHPOOL_TESTS_INTEGRATION_SSRF_CANARY_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace fetchpool::testing {

// A TCP listener on an address fetchpool must never reach (127.0.0.1:8080,
// [::1]:8080, 169.254.169.254:80 on the namespace's lo, ...). It accepts,
// counts and closes every connection: a count above zero means a denied
// destination was connected to. Runs one accept thread; Stop() joins it.
class CanaryListener {
 public:
  // address: an IPv4 or IPv6 literal (no brackets).
  CanaryListener(std::string address, int port);
  ~CanaryListener();  // Calls Stop().

  CanaryListener(const CanaryListener&) = delete;
  CanaryListener& operator=(const CanaryListener&) = delete;

  absl::Status Start();
  void Stop();

  int64_t accepted() const { return accepted_.load(); }
  // "127.0.0.1:8080" or "[::1]:8080"
  std::string name() const;

 private:
  void AcceptLoop();

  const std::string address_;
  const int port_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd, readable once Stop() begins
  std::thread thread_;
  std::atomic<int64_t> accepted_{0};
};

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_INTEGRATION_SSRF_CANARY_H_
