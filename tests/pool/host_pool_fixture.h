#ifndef FETCHPOOL_TESTS_POOL_HOST_POOL_FIXTURE_H_
#define FETCHPOOL_TESTS_POOL_HOST_POOL_FIXTURE_H_

// The fixture shared by the HostPool unit tests: one pool on a fake clock and
// transport, every lease callback tracked by an OutcomeRecorder. TearDown
// destroys the pool, then checks that every callback ran exactly once with
// the invariants holding, that the transport was used correctly and that no
// connection was left open.

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pool/host_pool.h"
#include "tests/pool/fake_clock.h"
#include "tests/pool/fake_transport.h"
#include "tests/pool/pool_test_util.h"

// EXPECT that the pool's invariants hold, naming the step that was just taken.
#define EXPECT_INVARIANTS(pool, step)                                                   \
  do {                                                                                  \
    const absl::Status invariants_status_ = (pool).CheckInvariants();                  \
    EXPECT_TRUE(invariants_status_.ok())                                                \
        << "after " << (step) << " (line " << __LINE__ << "): " << invariants_status_; \
  } while (0)

// Runs one statement on the fixture's pool_ and checks the invariants right
// after it.
#define STEP(...)                            \
  do {                                       \
    __VA_ARGS__;                             \
    EXPECT_INVARIANTS(*pool_, #__VA_ARGS__); \
  } while (0)

namespace fetchpool {

class HostPoolFixture : public ::testing::Test {
 protected:
  // `key`: the pool key MakePool constructs with.
  explicit HostPoolFixture(std::string key) : key_(std::move(key)) {}

  void TearDown() override {
    DestroyPool();
    EXPECT_EQ(recorder_.Problems(), "");
    EXPECT_THAT(transport_.Misuse(), ::testing::IsEmpty());
    EXPECT_EQ(transport_.open_now(), 0u) << "connections left open after the pool died";
  }

  // Replaces the pool (if any) with a new one on `config`, which must be valid.
  void MakePool(const HostPoolConfig& config) {
    DestroyPool();
    ASSERT_TRUE(config.Validate().ok()) << config.Validate();
    pool_ = std::make_unique<HostPool>(key_, config, clock_, transport_);
    recorder_.set_pool(pool_.get());
    EXPECT_INVARIANTS(*pool_, "construction");
  }

  void DestroyPool() {
    // The recorder keeps checking invariants while the destructor fails the
    // waiters: they must hold then too.
    pool_.reset();
    recorder_.set_pool(nullptr);
  }

  HostPool& pool() { return *pool_; }
  absl::Time Now() const { return clock_.Now(); }

  // Acquire with `deadline` and `options`, tracked by the recorder; `then`
  // runs inside the callback. Checks the invariants, and that Acquire returns
  // id 0 exactly when the callback ran at once.
  Outcome& AcquireWith(const std::string& name, absl::Time deadline,
                       HostPool::AcquireOptions options = {},
                       std::function<void(Outcome&)> then = nullptr) {
    Outcome& o = recorder_.New(name);
    o.then = std::move(then);
    o.id = pool_->Acquire(deadline, recorder_.CallbackFor(o), options);
    EXPECT_INVARIANTS(*pool_, "Acquire(" + name + ")");
    EXPECT_EQ(o.id == 0, o.done()) << name << ": id 0 iff the callback ran at once";
    return o;
  }

  void Release(Slot* s, ExchangeEnd end) { STEP(pool_->Release(s, end)); }
  void Advance(absl::Duration d) {
    clock_.Advance(d);
    EXPECT_INVARIANTS(*pool_, absl::StrCat("Advance(", absl::FormatDuration(d), ")"));
  }
  HostPoolStatsSnapshot Snap() {
    HostPoolStatsSnapshot s = pool_->Snapshot();
    EXPECT_INVARIANTS(*pool_, "Snapshot()");
    return s;
  }

  const std::string key_;
  FakeClock clock_;
  FakeTransport transport_;
  OutcomeRecorder recorder_;
  std::unique_ptr<HostPool> pool_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_TESTS_POOL_HOST_POOL_FIXTURE_H_
