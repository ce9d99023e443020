#include "engine/curl_multi_init.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>

namespace fetchpool {
namespace {

// Set only on the thread inside NewCurlMulti().
thread_local bool refuse_socketpair = false;

using SocketpairFn = int (*)(int, int, int, int*);

SocketpairFn RealSocketpair() {
  static const SocketpairFn real = reinterpret_cast<SocketpairFn>(dlsym(RTLD_NEXT, "socketpair"));
  return real;
}

}  // namespace

CURLM* NewCurlMulti() {
  refuse_socketpair = true;
  CURLM* multi = curl_multi_init();
  refuse_socketpair = false;
  return multi;
}

}  // namespace fetchpool

// See curl_multi_init.h. Everyone else in the process gets the C library's.
extern "C" int socketpair(int domain, int type, int protocol, int sv[2]) {
  if (fetchpool::refuse_socketpair) {
    errno = EMFILE;
    return -1;
  }
  const fetchpool::SocketpairFn real = fetchpool::RealSocketpair();
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real(domain, type, protocol, sv);
}
