// Pooled connections and egress profiles: a connection opened for a caller
// whose profile allows a private address must not be reused by a caller
// whose profile denies it (issue 11, part 2). Runs inside a network
// namespace holding only loopback, with 10.0.0.1 added to lo and a
// namespaced /etc/hosts naming it private-origin.test (see CMakeLists.txt):
// no packet leaves the machine, no DNS query is sent.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/reason.h"
#include "engine/engine.h"
#include "engine/engine_test_peer.h"
#include "pool/clock.h"
#include "tests/origin/test_origin.h"

namespace fetchpool {
namespace {

using testing::TestOrigin;

TestOrigin::Options PrivateOrigin() {
  TestOrigin::Options options;
  options.bind_address = "10.0.0.1";
  return options;
}

class EgressReuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = origin_.Start();
    ASSERT_TRUE(started.ok()) << started
                              << " (run inside the test's network namespace: ctest does)";
    EngineConfig config;
    config.event_loops = 1;
    EgressProfileSettings loose;
    loose.name = "loose";
    loose.allow_cidrs = {"10.0.0.0/8", "127.0.0.0/8"};
    loose.deny_hosts = {"*.blocked.test"};
    EgressProfileSettings strict;
    strict.name = "strict";
    strict.deny_private_networks = true;
    strict.allow_cidrs = {"127.0.0.0/8"};
    strict.deny_hosts = {"*.blocked.test"};  // at least loose's: it Narrows loose
    config.profiles = {loose, strict};
    config.caller_profiles = {{"loose-caller", "loose"}, {"strict-caller", "strict"}};
    absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(std::move(config));
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  void TearDown() override {
    if (engine_ != nullptr) {
      absl::Status invariants = EngineTestPeer::CheckInvariants(*engine_);
      EXPECT_TRUE(invariants.ok()) << invariants;
      engine_->Shutdown(absl::Seconds(2));
    }
    origin_.Stop();
  }

  FetchSpec Spec(const std::string& caller) const {
    FetchSpec spec;
    spec.url = absl::StrCat("http://private-origin.test:", origin_.port(), "/echo");
    spec.pool_key = absl::StrCat("http://private-origin.test:", origin_.port());
    spec.caller = caller;
    spec.deadline = MonotonicClock::Get().Now() + absl::Seconds(30);
    return spec;
  }

  absl::StatusOr<FetchResult> FetchAndWait(FetchSpec spec) {
    std::promise<absl::StatusOr<FetchResult>> done;
    engine_->Fetch(std::move(spec),
                   [&](absl::StatusOr<FetchResult> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  TestOrigin origin_{PrivateOrigin()};
  std::unique_ptr<Engine> engine_;
};

TEST_F(EgressReuseTest, AStricterCallerDoesNotReuseAConnectionItsProfileDenies) {
  absl::StatusOr<FetchResult> loose = FetchAndWait(Spec("loose-caller"));
  ASSERT_TRUE(loose.ok()) << loose.status();
  EXPECT_EQ(loose->status, 200);
  EXPECT_EQ(loose->remote_address.rfind("10.0.0.1", 0), 0u) << loose->remote_address;
  EXPECT_EQ(origin_.connections_accepted(), 1);
  EXPECT_EQ(origin_.requests_served(), 1);

  // Same URL, same pool, an idle connection to 10.0.0.1 waiting: refused at
  // lease time, nothing sent on it.
  absl::StatusOr<FetchResult> strict = FetchAndWait(Spec("strict-caller"));
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReasonOf(strict.status()), "DESTINATION_DENIED");
  EXPECT_NE(strict.status().message().find("deny_private_networks"), absl::string_view::npos)
      << strict.status();
  EXPECT_NE(strict.status().message().find("\"strict\""), absl::string_view::npos)
      << strict.status();
  // A loose caller asking for the strict profile is refused the same way.
  FetchSpec narrowed = Spec("loose-caller");
  narrowed.egress_profile = "strict";
  absl::StatusOr<FetchResult> asked = FetchAndWait(narrowed);
  ASSERT_FALSE(asked.ok());
  EXPECT_EQ(ReasonOf(asked.status()), "DESTINATION_DENIED");
  EXPECT_EQ(origin_.connections_accepted(), 1);
  EXPECT_EQ(origin_.requests_served(), 1);

  // The connection went back untouched: the loose caller reuses it.
  absl::StatusOr<FetchResult> again = FetchAndWait(Spec("loose-caller"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->connection_reused);
  EXPECT_EQ(origin_.connections_accepted(), 1);
  EXPECT_EQ(origin_.requests_served(), 2);
}

TEST_F(EgressReuseTest, AStrictCallerWithNoPooledConnectionIsRefusedAtConnect) {
  absl::StatusOr<FetchResult> strict = FetchAndWait(Spec("strict-caller"));
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(ReasonOf(strict.status()), "DESTINATION_DENIED");
  EXPECT_EQ(origin_.connections_accepted(), 0);
}

TEST_F(EgressReuseTest, UnknownOrWiderRequestedProfilesAreRefused) {
  FetchSpec unknown = Spec("loose-caller");
  unknown.egress_profile = "nope";
  absl::StatusOr<FetchResult> r = FetchAndWait(unknown);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReasonOf(r.status()), "PROFILE_DENIED");
  FetchSpec wider = Spec("strict-caller");
  wider.egress_profile = "loose";
  r = FetchAndWait(wider);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReasonOf(r.status()), "PROFILE_DENIED");
  EXPECT_EQ(origin_.connections_accepted(), 0);
}

TEST_F(EgressReuseTest, EachRedirectHopIsCheckedAgainstTheHostPatterns) {
  FetchSpec spec = Spec("loose-caller");
  spec.url = absl::StrCat("http://private-origin.test:", origin_.port(),
                          "/redirect?to=http://a.blocked.test:", origin_.port(), "/echo");
  spec.follow_redirects = true;
  absl::StatusOr<FetchResult> r = FetchAndWait(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReasonOf(r.status()), "DESTINATION_DENIED");
  EXPECT_NE(r.status().message().find("*.blocked.test"), absl::string_view::npos) << r.status();
  EXPECT_EQ(origin_.requests_served(), 1);  // the first hop only
}

TEST_F(EgressReuseTest, FetchpoolsOwnListeningPortsAreRefused) {
  ASSERT_TRUE(engine_->SetSelfAddresses({absl::StrCat("0.0.0.0:", origin_.port())}).ok());
  absl::StatusOr<FetchResult> r = FetchAndWait(Spec("loose-caller"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReasonOf(r.status()), "DESTINATION_DENIED");
  EXPECT_NE(r.status().message().find("own listening address"), absl::string_view::npos)
      << r.status();
  EXPECT_EQ(origin_.connections_accepted(), 0);
}

}  // namespace
}  // namespace fetchpool
