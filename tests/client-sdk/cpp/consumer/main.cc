// app TARGET URL: GET the URL through fetchpool and print the outcome.
#include <iostream>

#include <fetchpool/client.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: app TARGET URL\n";
    return 2;
  }
  fetchpool::Client client(argv[1]);
  absl::StatusOr<fetchpool::v1::FetchResponse> response = client.Get(argv[2]);
  if (!response.ok()) {
    std::cout << "error " << response.status() << " reason=" << fetchpool::ErrorReason(response.status())
              << "\n";
    return 1;
  }
  std::cout << "status " << response->status() << " pool " << response->pool() << " key "
            << fetchpool::PoolKey(argv[2]).value_or("-") << "\n";
  return 0;
}
