// heap_probe.so: LD_PRELOAD'ed into fetchpoold by bench/scale_e2e/run.sh to
// read its live heap, which RSS alone cannot show (glibc keeps freed memory).
// No fetchpool code changes: the library starts one thread of its own that
// polls $HEAP_PROBE_DIR/request every 50 ms. Writing "stat" or "trim" there
// makes it answer in $HEAP_PROBE_DIR/reply (one line, written atomically):
//
//   in_use=B free=B mmap=B rss_kib=K
//
// in_use is what the program holds (glibc mallinfo2: uordblks + hblkhd, all
// arenas), free what malloc keeps for reuse. "trim" first calls
// malloc_trim(0), returning free pages, so rss_kib after it is close to what
// is live. The thread blocks every signal, so fetchpoold's sigwait still gets
// SIGTERM; it adds one thread to the process's count.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace {

long RssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

void Answer(const std::string& dir, const std::string& request) {
  if (request.rfind("trim", 0) == 0) malloc_trim(0);
  const struct mallinfo2 m = mallinfo2();
  const std::string tmp = dir + "/reply.tmp";
  FILE* out = std::fopen(tmp.c_str(), "w");
  if (out == nullptr) return;
  std::fprintf(out, "in_use=%zu free=%zu mmap=%zu rss_kib=%ld\n", m.uordblks + m.hblkhd,
               m.fordblks, m.hblkhd, RssKiB());
  std::fclose(out);
  std::rename(tmp.c_str(), (dir + "/reply").c_str());
}

void* Poll(void* arg) {
  const std::string dir = static_cast<const char*>(arg);
  const std::string path = dir + "/request";
  for (;;) {
    usleep(50 * 1000);
    std::ifstream in(path);
    if (!in) continue;
    std::string request;
    std::getline(in, request);
    in.close();
    std::remove(path.c_str());
    Answer(dir, request);
  }
  return nullptr;
}

__attribute__((constructor)) void StartHeapProbe() {
  const char* dir = std::getenv("HEAP_PROBE_DIR");
  if (dir == nullptr || *dir == '\0') return;
  // The new thread inherits this mask: no signal is ever delivered to it.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  if (pthread_create(&thread, nullptr, &Poll, strdup(dir)) == 0) pthread_detach(thread);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace
