// Makes Debian's abseil synchronization visible to ThreadSanitizer.
//
// Debian's libabsl_synchronization is not built with -fsanitize=thread, so
// TSan never sees absl::Mutex lock/unlock, absl::CondVar waits or
// absl::Notification: every field guarded by an absl::Mutex is reported as a
// data race. `./dev.sh sanitize thread` builds this file into
// build-tsan/absl_tsan_shim.so and LD_PRELOADs it into the tests. Being
// preloaded, its definitions of the exported functions below come first in
// symbol lookup, for fetchpool's code and for gRPC's; each calls the real
// function (dlsym RTLD_NEXT) and tells TSan the happens-before edge it makes
// (__tsan_acquire after taking, __tsan_release before giving up).
//
// Conditions (Mutex::Await, LockWhen and their *WithTimeout / *WithDeadline
// forms) are evaluated by abseil with the mutex held, inside the real call:
// by the waiter before it blocks or after it has the lock again, or by
// another thread in its Unlock, on the waiter's behalf. The wrappers below
// cannot tell TSan where in the real call that happens, so they hand abseil a
// Condition of their own (Guarded) that runs the caller's condition between
// __tsan_acquire and __tsan_release of the mutex: each evaluation is a small
// critical section of its own, ordered after the writer whose Unlock came
// before it and before the next locker, as abseil's own TSan annotations do
// (EvalConditionAnnotated). Without it a condition read the guarded data after
// the wrapper's Release (Await) or before its Acquire (LockWhen), and the
// next writer under the lock was reported against it (seen: InFlightFetches
// ::Remove vs the Await condition in CancelAllAndWait).
//
// absl::Status shares its message between copies through a reference count
// that the header increments inline but that libabsl_status decrements
// (Status::UnrefNonInlined), out of TSan's sight: a status made on one thread
// and let go last on another was reported as freed there against a read of
// its message on the first (seen: EngineTest.NoDescriptorLeftIs
// LocalResourcesNotConnectRefused, the engine thread's copy of a failed
// fetch's status outliving the test's). The wrapper below releases before each
// decrement and acquires before the free, as std::shared_ptr's do.
//
// Not instrumented itself, and inert in a process without TSan (the weak
// __tsan_* references are then null) or without abseil (nothing calls it).
// The mangled names are those of Debian 12's libabsl 20220623 ("debian3"
// inline namespace); a name that does not resolve stops the process loudly.
#include <dlfcn.h>

#include "tsan_shim_common.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

using tsan_shim::Acquire;
using tsan_shim::Release;

constexpr char kShimName[] = "absl_tsan_shim";

#define REAL(type, mangled) static const auto real = tsan_shim::Real<type>(kShimName, mangled)

// Notification keeps `std::atomic<bool> notified_yet_` right after its Mutex;
// the header's inline HasBeenNotified() loads it with acquire order in
// instrumented code, so Notify() releases that address as well.
const void* NotifiedFlag(const absl::Notification* n) {
  return reinterpret_cast<const char*>(n) + sizeof(absl::Mutex);
}

// A condition and the mutex it is evaluated under (see the header).
struct Guarded {
  const absl::Condition* cond;
  const absl::Mutex* mu;
};

bool EvalGuarded(Guarded* g) {
  Acquire(g->mu);
  const bool met = g->cond->Eval();
  Release(g->mu);
  return met;
}

}  // namespace

// Declares `guarded`, the Condition handed to the real function in place of
// `cond`; it lives on the wrapper's stack for the whole real call.
#define GUARD(cond)                          \
  Guarded guarded_arg{&(cond), this};        \
  const Condition guarded(&EvalGuarded, &guarded_arg)

namespace absl {
ABSL_NAMESPACE_BEGIN

// --- Mutex ---------------------------------------------------------------------

void Mutex::Lock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  real(this);
  Acquire(this);
}

void Mutex::Unlock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  Release(this);
  real(this);
}

bool Mutex::TryLock() {
  REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

void Mutex::ReaderLock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}

void Mutex::ReaderUnlock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  Release(this);
  real(this);
}

bool Mutex::ReaderTryLock() {
  REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  GUARD(cond);
  real(this, guarded);
  Acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  REAL(void (*)(Mutex*, const Condition&),
       "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  GUARD(cond);
  real(this, guarded);
  Acquire(this);
}

// The *WithTimeout / *WithDeadline forms hold the lock on return either way.
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  REAL(bool (*)(Mutex*, const Condition&, Duration),
       "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  GUARD(cond);
  bool met = real(this, guarded, timeout);
  Acquire(this);
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  REAL(bool (*)(Mutex*, const Condition&, Time),
       "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  GUARD(cond);
  bool met = real(this, guarded, deadline);
  Acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  REAL(bool (*)(Mutex*, const Condition&, Duration),
       "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  GUARD(cond);
  bool met = real(this, guarded, timeout);
  Acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  REAL(bool (*)(Mutex*, const Condition&, Time),
       "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  GUARD(cond);
  bool met = real(this, guarded, deadline);
  Acquire(this);
  return met;
}

// Await releases the lock while it waits and holds it again on return; the
// condition's own evaluations are ordered by Guarded.
void Mutex::Await(const Condition& cond) {
  REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Release(this);
  GUARD(cond);
  real(this, guarded);
  Acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  REAL(bool (*)(Mutex*, const Condition&, Duration),
       "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);
  GUARD(cond);
  bool met = real(this, guarded, timeout);
  Acquire(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  REAL(bool (*)(Mutex*, const Condition&, Time),
       "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  GUARD(cond);
  bool met = real(this, guarded, deadline);
  Acquire(this);
  return met;
}

// --- CondVar -------------------------------------------------------------------

void CondVar::Wait(Mutex* mu) {
  REAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  REAL(bool (*)(CondVar*, Mutex*, Duration),
       "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  bool timed_out = real(this, mu, timeout);
  Acquire(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  REAL(bool (*)(CondVar*, Mutex*, Time),
       "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  bool timed_out = real(this, mu, deadline);
  Acquire(mu);
  return timed_out;
}

// --- Status ------------------------------------------------------------------

// Decrements the count as abseil's does and has abseil free the rep when this
// was the last reference (real() frees a rep whose count is 1). The count
// (StatusRep::ref) is decremented here, uninstrumented, hence the explicit
// release before it and acquire after the last one.
void Status::UnrefNonInlined(uintptr_t rep) {
  REAL(void (*)(uintptr_t), "_ZN4absl7debian36Status15UnrefNonInlinedEm");
  std::atomic<int32_t>& ref = RepToPointer(rep)->ref;
  Release(&ref);
  if (ref.load(std::memory_order_acquire) == 1) {
    Acquire(&ref);
    real(rep);
    return;
  }
  if (ref.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    // The last reference after all (another went in between): ours alone now.
    ref.store(1, std::memory_order_relaxed);
    Acquire(&ref);
    real(rep);
  }
}

// --- Notification, BlockingCounter, Barrier -------------------------------------

void Notification::Notify() {
  REAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv");
  Release(this);
  Release(NotifiedFlag(this));
  real(this);
}

void Notification::WaitForNotification() const {
  REAL(void (*)(const Notification*), "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  real(this);
  Acquire(this);
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  REAL(bool (*)(const Notification*, Duration),
       "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  bool notified = real(this, timeout);
  if (notified) Acquire(this);
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  REAL(bool (*)(const Notification*, Time),
       "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  bool notified = real(this, deadline);
  if (notified) Acquire(this);
  return notified;
}

bool BlockingCounter::DecrementCount() {
  REAL(bool (*)(BlockingCounter*), "_ZN4absl7debian315BlockingCounter14DecrementCountEv");
  Release(this);
  return real(this);
}

void BlockingCounter::Wait() {
  REAL(void (*)(BlockingCounter*), "_ZN4absl7debian315BlockingCounter4WaitEv");
  real(this);
  Acquire(this);
}

bool Barrier::Block() {
  REAL(bool (*)(Barrier*), "_ZN4absl7debian37Barrier5BlockEv");
  Release(this);
  bool last = real(this);
  Acquire(this);
  return last;
}

ABSL_NAMESPACE_END
}  // namespace absl
