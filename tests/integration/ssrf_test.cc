// Issue 11 §3: SSRF cases proven end to end. The real fetchpoold binary, test
// origins, canary listeners and a gRPC client, all inside one network
// namespace holding only loopback (tests/integration/ssrf_netns.sh sets it
// up; CMake runs it under `unshare --net --mount`). Every case must fail
// PERMISSION_DENIED with reason DESTINATION_DENIED, and no canary may ever
// accept a connection. The case list, with the rule that denies each, is in
// README's Security section; keep the test names stable.
//
// Ports are fixed (8080 for origins and canaries): the namespace is this
// process's alone, so nothing else can hold them.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fetchpool/v1/fetchpool.grpc.pb.h"
#include "tests/integration/ssrf_canary.h"
#include "tests/integration/ssrf_daemon.h"
#include "tests/origin/test_origin.h"

namespace fetchpool::testing {
namespace {

constexpr int kPort = 8080;
// fetchpoold's defaults (0.0.0.0:50051 and 0.0.0.0:9464), fixed so that the
// self rule is tested whether it is built from the configured or the bound
// ports.
constexpr int kSelfGrpcPort = 50051;
constexpr int kSelfMetricsPort = 9464;

std::string g_fetchpoold;  // --fetchpoold=PATH

// Denied destinations with a listener behind them: loopback, and the metadata
// addresses ssrf_netns.sh put on lo. A connection to any of them is a failure.
struct CanarySpec {
  const char* address;
  int port;
};
constexpr CanarySpec kCanaries[] = {
    {"127.0.0.1", kPort},         {"127.0.0.7", kPort},      {"127.0.0.8", kPort},
    {"::1", kPort},               {"169.254.169.254", 80},   {"fd00:ec2::254", 80},
    {"64:ff9b::a9fe:a9fe", 80},   {"2002:a9fe:a9fe::", 80},
};

// One fetchpoold per configuration, started on first use and kept for the
// whole suite (starting one costs more than all its cases).
enum class Daemon { kDefault, kAllowTen, kDenyPrivate, kSelf };

std::vector<std::string> FlagsFor(Daemon d) {
  std::vector<std::string> flags = {"--listen=127.0.0.1:0", "--metrics_listen=",
                                    "--shutdown_grace=1s", "--drain_delay=0s"};
  switch (d) {
    case Daemon::kDefault:
      break;
    case Daemon::kAllowTen:
      flags.push_back("--allow_cidrs=10.0.0.0/8");
      break;
    case Daemon::kDenyPrivate:
      flags.push_back("--deny_private_networks");
      break;
    case Daemon::kSelf:
      // Loopback allowed, so only the self rule can deny fetchpool's ports.
      // Wildcard listeners, as deployed: every local address is fetchpool.
      flags = {absl::StrCat("--listen=0.0.0.0:", kSelfGrpcPort),
               absl::StrCat("--metrics_listen=0.0.0.0:", kSelfMetricsPort),
               "--shutdown_grace=1s", "--allow_cidrs=127.0.0.0/8"};
      break;
  }
  return flags;
}

struct CallResult {
  grpc::Status status;
  std::string reason;  // the fetchpool-reason trailer
  v1::FetchResponse response;
};

// Everything the suite shares: canaries, origins on private addresses, and
// the daemons. Its TearDown asserts the canaries' total is 0.
class SsrfWorld : public ::testing::Environment {
 public:
  static SsrfWorld* Get() { return instance_; }

  void SetUp() override {
    instance_ = this;
    for (const CanarySpec& c : kCanaries) {
      canaries_.push_back(std::make_unique<CanaryListener>(c.address, c.port));
      const absl::Status started = canaries_.back()->Start();
      ASSERT_TRUE(started.ok()) << started;
    }
    for (const char* address : {"10.0.0.1", "100.64.0.1"}) {
      TestOrigin::Options options;
      options.bind_address = address;
      options.port = kPort;
      origins_[address] = std::make_unique<TestOrigin>(options);
      const absl::Status started = origins_[address]->Start();
      ASSERT_TRUE(started.ok()) << started;
    }
  }

  void TearDown() override {
    for (auto& [d, daemon] : daemons_) daemon.process->Terminate();
    for (auto& [d, daemon] : daemons_) {
      const absl::Status stopped = daemon.process->Stop();
      EXPECT_TRUE(stopped.ok()) << stopped;
    }
    int64_t total = 0;
    std::vector<std::string> counts;
    for (const auto& canary : canaries_) {
      total += canary->accepted();
      counts.push_back(absl::StrCat(canary->name(), "=", canary->accepted()));
      canary->Stop();
    }
    std::printf("SSRF canary accepted connections over the whole suite: %lld (%s)\n",
                static_cast<long long>(total), absl::StrJoin(counts, " ").c_str());
    EXPECT_EQ(total, 0) << "a denied destination was connected to: " << absl::StrJoin(counts, " ");
    for (auto& [address, origin] : origins_) origin->Stop();
  }

  TestOrigin& origin(const std::string& address) { return *origins_.at(address); }

  int64_t CanaryCount(const std::string& name) const {
    for (const auto& canary : canaries_) {
      if (canary->name() == name) return canary->accepted();
    }
    ADD_FAILURE() << "no canary " << name;
    return -1;
  }
  int64_t CanaryTotal() const {
    int64_t total = 0;
    for (const auto& canary : canaries_) total += canary->accepted();
    return total;
  }

  // The client of daemon `d`, starting it on first use; null (with a test
  // failure naming the reason) if it cannot start.
  v1::FetchPool::Stub* Client(Daemon d) {
    auto it = daemons_.find(d);
    if (it == daemons_.end()) {
      RunningDaemon running;
      running.process = std::make_unique<FetchpooldProcess>();
      const absl::Status started = running.process->Start(g_fetchpoold, FlagsFor(d));
      if (!started.ok()) {
        ADD_FAILURE() << started;
        return nullptr;
      }
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
      running.stub = v1::FetchPool::NewStub(grpc::CreateCustomChannel(
          absl::StrCat("127.0.0.1:", running.process->port()), grpc::InsecureChannelCredentials(),
          args));
      it = daemons_.emplace(d, std::move(running)).first;
    }
    return it->second.stub.get();
  }

 private:
  struct RunningDaemon {
    std::unique_ptr<FetchpooldProcess> process;
    std::unique_ptr<v1::FetchPool::Stub> stub;
  };
  static SsrfWorld* instance_;
  std::vector<std::unique_ptr<CanaryListener>> canaries_;
  std::map<std::string, std::unique_ptr<TestOrigin>> origins_;
  std::map<Daemon, RunningDaemon> daemons_;
};
SsrfWorld* SsrfWorld::instance_ = nullptr;

CallResult Fetch(Daemon d, const std::string& url, bool follow_redirects = false) {
  CallResult out;
  v1::FetchPool::Stub* stub = SsrfWorld::Get()->Client(d);
  if (stub == nullptr) {
    out.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "fetchpoold did not start");
    return out;
  }
  v1::FetchRequest request;
  request.set_url(url);
  request.set_follow_redirects(follow_redirects);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  out.status = stub->Fetch(&context, request, &out.response);
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find("fetchpool-reason");
  if (it != trailers.end()) out.reason = std::string(it->second.data(), it->second.size());
  return out;
}

// The case's fetch is denied, and no canary moved while it ran.
void ExpectDenied(Daemon d, const std::string& url, bool follow_redirects = false) {
  const int64_t canaries_before = SsrfWorld::Get()->CanaryTotal();
  CallResult r = Fetch(d, url, follow_redirects);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << url << ": " << r.status.error_message() << " (reason " << r.reason << ", HTTP "
      << r.response.status() << ")";
  EXPECT_EQ(r.reason, "DESTINATION_DENIED") << url << ": " << r.status.error_message();
  EXPECT_EQ(SsrfWorld::Get()->CanaryTotal(), canaries_before) << url << " reached a canary";
  std::printf("  %s -> %s %s\n", url.c_str(), r.reason.empty() ? "(no reason)" : r.reason.c_str(),
              r.status.error_message().c_str());
}

void ExpectServed(Daemon d, const std::string& url, const std::string& origin_address) {
  TestOrigin& origin = SsrfWorld::Get()->origin(origin_address);
  const int64_t served_before = origin.requests_served();
  CallResult r = Fetch(d, url);
  ASSERT_TRUE(r.status.ok()) << url << ": " << r.status.error_message() << " (reason " << r.reason
                             << ")";
  EXPECT_EQ(r.response.status(), 200) << url;
  EXPECT_EQ(origin.requests_served(), served_before + 1) << url;
}

// --- the default profile: fetchpoold with no allow flags -------------------

// curl's URL parser reads every legacy IPv4 form (RFC 3986 leaves them to
// inet_aton) as the address it names, so each reaches the connect-time check
// as 127.0.0.1 (loopback 127.0.0.0/8).
TEST(SsrfDefaultProfile, Ipv4ShortLoopback) {
  ExpectDenied(Daemon::kDefault, absl::StrCat("http://127.1:", kPort, "/"));
}
TEST(SsrfDefaultProfile, Ipv4DecimalLoopback) {
  ExpectDenied(Daemon::kDefault, absl::StrCat("http://2130706433:", kPort, "/"));
}
TEST(SsrfDefaultProfile, Ipv4HexLoopback) {
  ExpectDenied(Daemon::kDefault, absl::StrCat("http://0x7f.1:", kPort, "/"));
}
TEST(SsrfDefaultProfile, Ipv4OctalLoopback) {
  ExpectDenied(Daemon::kDefault, absl::StrCat("http://0177.0.0.1:", kPort, "/"));
}

TEST(SsrfDefaultProfile, Ipv6Loopback) {
  ExpectDenied(Daemon::kDefault, absl::StrCat("http://[::1]:", kPort, "/"));
}
TEST(SsrfDefaultProfile, Ipv4MappedLoopbackHex) {
  ExpectDenied(Daemon::kDefault, absl::StrCat("http://[::ffff:7f00:1]:", kPort, "/"));
}
TEST(SsrfDefaultProfile, Ipv4MappedLoopbackDotted) {
  ExpectDenied(Daemon::kDefault, absl::StrCat("http://[::ffff:127.0.0.1]:", kPort, "/"));
}

TEST(SsrfDefaultProfile, CloudMetadataIpv4) {
  ExpectDenied(Daemon::kDefault, "http://169.254.169.254/");
}
TEST(SsrfDefaultProfile, AwsMetadataIpv6) {
  ExpectDenied(Daemon::kDefault, "http://[fd00:ec2::254]/");
}
TEST(SsrfDefaultProfile, Nat64EmbeddedMetadata) {
  ExpectDenied(Daemon::kDefault, "http://[64:ff9b::a9fe:a9fe]/");
}
TEST(SsrfDefaultProfile, SixToFourEmbeddedMetadata) {
  ExpectDenied(Daemon::kDefault, "http://[2002:a9fe:a9fe::]/");
}

TEST(SsrfDefaultProfile, NameResolvingOnlyToLoopback) {
  ExpectDenied(Daemon::kDefault, absl::StrCat("http://loop-only.test:", kPort, "/"));
  EXPECT_EQ(SsrfWorld::Get()->CanaryCount(absl::StrCat("127.0.0.7:", kPort)), 0);
}

// 10.0.0.1 is allowed under the default profile (private ranges are not in
// the built-in deny list); its 302 points at a denied address.
TEST(SsrfDefaultProfile, RedirectToDeniedAddress) {
  TestOrigin& origin = SsrfWorld::Get()->origin("10.0.0.1");
  const int64_t served_before = origin.requests_served();
  ExpectDenied(Daemon::kDefault,
               absl::StrCat(origin.base_url(), "/redirect?to=http://127.0.0.1:", kPort, "/"),
               /*follow_redirects=*/true);
  EXPECT_EQ(origin.requests_served(), served_before + 1) << "the redirect itself was served";
  EXPECT_EQ(SsrfWorld::Get()->CanaryCount(absl::StrCat("127.0.0.1:", kPort)), 0);
}

TEST(SsrfDefaultProfile, RedirectToFileScheme) {
  TestOrigin& origin = SsrfWorld::Get()->origin("10.0.0.1");
  const int64_t served_before = origin.requests_served();
  const std::string url = absl::StrCat(origin.base_url(), "/redirect?to=file:///etc/passwd");
  ExpectDenied(Daemon::kDefault, url, /*follow_redirects=*/true);
  EXPECT_EQ(origin.requests_served(), served_before + 1) << "the redirect itself was served";
  // The file was not read: nothing of it came back.
  CallResult r = Fetch(Daemon::kDefault, url, /*follow_redirects=*/true);
  EXPECT_FALSE(absl::StrContains(r.response.body(), "root:")) << r.response.body();
  EXPECT_FALSE(absl::StrContains(r.status.error_message(), "root:"));
}

// --- a name with one allowed and one denied address -------------------------

// dual.test is 127.0.0.8 (denied, listed first) and 10.0.0.1 (allowed): curl
// moves on from the address the open-socket callback refuses.
TEST(SsrfDualAddressName, DeniedAddressNeverConnected) {
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  ASSERT_EQ(getaddrinfo("dual.test", nullptr, &hints, &found), 0);
  std::vector<std::string> order;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = a->ai_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    inet_ntop(a->ai_family, raw, text, sizeof text);
    order.push_back(text);
  }
  freeaddrinfo(found);
  // The denied address first, or the test would not show curl moving on.
  ASSERT_EQ(order, (std::vector<std::string>{"127.0.0.8", "10.0.0.1"}));

  ExpectServed(Daemon::kAllowTen, absl::StrCat("http://dual.test:", kPort, "/echo"), "10.0.0.1");
  EXPECT_EQ(SsrfWorld::Get()->CanaryCount(absl::StrCat("127.0.0.8:", kPort)), 0);
}

// --- private networks: real origins on 10.0.0.1 and 100.64.0.1 --------------

TEST(SsrfPrivateNetworks, Rfc1918DeniedByDenyPrivateNetworks) {
  const int64_t served_before = SsrfWorld::Get()->origin("10.0.0.1").requests_served();
  ExpectDenied(Daemon::kDenyPrivate, absl::StrCat("http://10.0.0.1:", kPort, "/echo"));
  EXPECT_EQ(SsrfWorld::Get()->origin("10.0.0.1").requests_served(), served_before);
}
TEST(SsrfPrivateNetworks, SharedAddressSpaceDeniedByDenyPrivateNetworks) {
  const int64_t served_before = SsrfWorld::Get()->origin("100.64.0.1").requests_served();
  ExpectDenied(Daemon::kDenyPrivate, absl::StrCat("http://100.64.0.1:", kPort, "/echo"));
  EXPECT_EQ(SsrfWorld::Get()->origin("100.64.0.1").requests_served(), served_before);
}
// The same fetches without the flag reach the origins: the denials above are
// the flag's doing, not an unreachable address.
TEST(SsrfPrivateNetworks, Rfc1918ReachableWithoutTheFlag) {
  ExpectServed(Daemon::kDefault, absl::StrCat("http://10.0.0.1:", kPort, "/echo"), "10.0.0.1");
}
TEST(SsrfPrivateNetworks, SharedAddressSpaceReachableWithoutTheFlag) {
  ExpectServed(Daemon::kDefault, absl::StrCat("http://100.64.0.1:", kPort, "/echo"),
               "100.64.0.1");
}

// --- fetchpool's own ports, with loopback allowed ---------------------------

TEST(SsrfSelf, OwnGrpcPortDenied) {
  ExpectDenied(Daemon::kSelf, absl::StrCat("http://127.0.0.1:", kSelfGrpcPort, "/"));
}
TEST(SsrfSelf, OwnMetricsPortDenied) {
  ExpectDenied(Daemon::kSelf, absl::StrCat("http://127.0.0.1:", kSelfMetricsPort, "/metrics"));
}
// 10.0.0.1 is allowed (not in the default deny list) and is on lo: the
// wildcard listener answers there too.
TEST(SsrfSelf, OwnGrpcPortOnAnotherLocalAddressDenied) {
  ExpectDenied(Daemon::kSelf, absl::StrCat("http://10.0.0.1:", kSelfGrpcPort, "/"));
}
// Control: the same daemon reaches another loopback port, so only the self
// rule denies the two above.
TEST(SsrfSelf, OtherLoopbackPortStillAllowed) {
  TestOrigin origin;
  ASSERT_TRUE(origin.Start().ok());
  CallResult r = Fetch(Daemon::kSelf, origin.base_url() + "/echo");
  EXPECT_TRUE(r.status.ok()) << r.status.error_message() << " (reason " << r.reason << ")";
  EXPECT_EQ(origin.requests_served(), 1);
  origin.Stop();
}

// Refuses to run anywhere but in a namespace holding only lo: the cases name
// metadata and private addresses, which must never leave this machine.
bool OnlyLoopbackInterfaces(std::string* others) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (std::strcmp(i->ifa_name, "lo") != 0) absl::StrAppend(others, i->ifa_name, " ");
  }
  freeifaddrs(list);
  return others->empty();
}

}  // namespace
}  // namespace fetchpool::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (absl::StartsWith(argv[i], "--fetchpoold=")) {
      fetchpool::testing::g_fetchpoold = argv[i] + std::strlen("--fetchpoold=");
    }
  }
  if (fetchpool::testing::g_fetchpoold.empty()) {
    std::fprintf(stderr, "usage: ssrf_test --fetchpoold=PATH (inside ssrf_netns.sh)\n");
    return 2;
  }
  std::string others;
  if (!fetchpool::testing::OnlyLoopbackInterfaces(&others)) {
    std::fprintf(stderr,
                 "ssrf_test: refusing to run with network interfaces besides lo (%s); run it "
                 "through ctest, which starts it under `unshare --net --mount` and "
                 "tests/integration/ssrf_netns.sh\n",
                 others.c_str());
    return 2;
  }
  ::testing::AddGlobalTestEnvironment(new fetchpool::testing::SsrfWorld);
  return RUN_ALL_TESTS();
}
