// fetchpoolctl: command-line client of the fetchpool service. See --help.
#include <iostream>
#include <string>
#include <vector>

#include "client-sdk/cpp/ctl_commands.h"
#include "client-sdk/cpp/ctl_terminal.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return fetchpool::client::RunCtl(args, std::cout, std::cerr, fetchpool::client::CtlEnvironmentForStdout());
}
