// fake_fetchpoold: the tests' fake FetchPool server as a process, to try
// fetchpoolctl by hand (`fetchpoolctl top` shows its six canned pools moving).
// Loopback only, and it exits on its own.
//
//   fake_fetchpoold [--port=N] [--seconds=S]     (defaults: a free port, 60 s)
#include <cstdio>
#include <string>

#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "tests/client-sdk/fake_fetchpool.h"

int main(int argc, char** argv) {
  int port = 0;
  int seconds = 60;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    bool ok = false;
    if (absl::ConsumePrefix(&arg, "--port=")) {
      ok = absl::SimpleAtoi(arg, &port) && port >= 0 && port < 65536;
    } else if (absl::ConsumePrefix(&arg, "--seconds=")) {
      ok = absl::SimpleAtoi(arg, &seconds) && seconds > 0;
    }
    if (!ok) {
      std::fprintf(stderr, "usage: fake_fetchpoold [--port=N] [--seconds=S]\n");
      return 2;
    }
  }
  fetchpool::testing::FakeFetchPoolServer server(port);
  std::printf("fake fetchpool listening on %s for %d s\n", server.target().c_str(), seconds);
  std::fflush(stdout);
  absl::SleepFor(absl::Seconds(seconds));
  return 0;
}
