// What the LD_PRELOAD shims of this folder (absl_tsan_shim.cc,
// grpc_tsan_shim.cc) share: telling TSan about a happens-before edge, and
// finding the real function a preloaded definition stands in front of.
#ifndef FETCHPOOL_TESTS_SANITIZERS_TSAN_SHIM_COMMON_H_
#define FETCHPOOL_TESTS_SANITIZERS_TSAN_SHIM_COMMON_H_

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

// Weak: null in a process without TSan, where the shims do nothing extra.
extern "C" {
void __tsan_acquire(void* addr) __attribute__((weak));
void __tsan_release(void* addr) __attribute__((weak));
}

namespace tsan_shim {

inline void Acquire(const volatile void* addr) {
  if (__tsan_acquire != nullptr && addr != nullptr) __tsan_acquire(const_cast<void*>(addr));
}
inline void Release(const volatile void* addr) {
  if (__tsan_release != nullptr && addr != nullptr) __tsan_release(const_cast<void*>(addr));
}

// The next definition of `name` after the preloaded one; a name that does not
// resolve (another library version) stops the process loudly.
template <typename Fn>
Fn Real(const char* shim, const char* name) {
  void* sym = dlsym(RTLD_NEXT, name);
  if (sym == nullptr) {
    std::fprintf(stderr, "%s: cannot find %s: %s\n", shim, name, dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(sym);
}

}  // namespace tsan_shim

#endif  // FETCHPOOL_TESTS_SANITIZERS_TSAN_SHIM_COMMON_H_
