#ifndef FETCHPOOL_ENGINE_CURL_MULTI_INIT_H_
#define FETCHPOOL_ENGINE_CURL_MULTI_INIT_H_

#include <curl/curl.h>

namespace fetchpool {

// curl_multi_init() without libcurl's wake-up socketpair.
//
// Every multi handle of libcurl 7.88 opens a socketpair for
// curl_multi_wakeup()/curl_multi_poll(), which fetchpool never calls (the
// event loop drives curl with curl_multi_socket_action). With one multi per
// connection, that made 3 descriptors per upstream connection, so the
// default 20,000-descriptor limit held only ~6,600 connections. libcurl
// treats a failed socketpair() at that point as "no wake-up support" and
// works on, so this makes socketpair() fail for the duration of the call,
// on this thread only: one descriptor per connection.
//
// How: this library defines socketpair(); the dynamic linker binds
// libcurl's call to it (a definition in the executable comes first), and
// it forwards to the C library's except while NewCurlMulti() runs on the
// calling thread. Returns null only when libcurl cannot allocate.
CURLM* NewCurlMulti();

}  // namespace fetchpool

#endif  // FETCHPOOL_ENGINE_CURL_MULTI_INIT_H_
