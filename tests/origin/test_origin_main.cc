// fetchpool_test_origin_server: the test origin as a process, for benchmarks
// and manual experiments. Prints "listening on 127.0.0.1:PORT" (or the --bind
// address, "[::1]:PORT" for IPv6) as its first line of output and serves
// until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "tests/origin/test_origin.h"

ABSL_FLAG(int, port, 0, "Port to listen on; 0 picks an ephemeral one.");
ABSL_FLAG(std::string, bind, "127.0.0.1",
          "Address to listen on, IPv4 or IPv6 (e.g. ::1).");
ABSL_FLAG(int64_t, idle_close_ms, 0,
          "Close keep-alive connections idle this many ms; 0 = never.");
ABSL_FLAG(int, keep_alive_hint_s, 0,
          "If > 0, send 'Keep-Alive: timeout=N' on every response.");
ABSL_FLAG(int, max_requests_per_connection, 0,
          "Close each connection after this many requests; 0 = unlimited.");
ABSL_FLAG(int64_t, response_delay_ms, 0,
          "Delay every response by this many ms.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "HTTP/1.1 test origin on loopback with fault-injection routes.");
  absl::ParseCommandLine(argc, argv);

  // Blocked before any thread starts so every thread inherits the mask and
  // sigwait() below is the only place the signals are taken.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  fetchpool::testing::TestOrigin::Options options;
  options.port = absl::GetFlag(FLAGS_port);
  options.bind_address = absl::GetFlag(FLAGS_bind);
  options.idle_close_after =
      absl::Milliseconds(absl::GetFlag(FLAGS_idle_close_ms));
  options.keep_alive_hint_seconds = absl::GetFlag(FLAGS_keep_alive_hint_s);
  options.max_requests_per_connection =
      absl::GetFlag(FLAGS_max_requests_per_connection);
  options.response_delay =
      absl::Milliseconds(absl::GetFlag(FLAGS_response_delay_ms));

  fetchpool::testing::TestOrigin origin(options);
  const absl::Status status = origin.Start();
  if (!status.ok()) {
    std::fprintf(stderr, "fetchpool_test_origin_server: %s\n",
                 status.ToString().c_str());
    return 1;
  }
  // base_url() is "http://HOST:PORT", HOST bracketed for IPv6.
  std::printf("listening on %s\n",
              origin.base_url().substr(strlen("http://")).c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  origin.Stop();
  std::fprintf(stderr,
               "fetchpool_test_origin_server: stopped by signal %d after %lld "
               "connections, %lld requests\n",
               signal_number,
               static_cast<long long>(origin.connections_accepted()),
               static_cast<long long>(origin.requests_served()));
  return 0;
}
