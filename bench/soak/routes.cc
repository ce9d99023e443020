#include "bench/soak/routes.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace fetchpool::soak {

std::string origins[kNumOrigins];
std::atomic<int64_t> next_id{1};

int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}
double Uniform01(std::mt19937_64& rng) { return std::uniform_real_distribution<double>(0, 1)(rng); }

void SetDuration(google::protobuf::Duration* d, absl::Duration v) {
  *d = google::protobuf::util::TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(v));
}

namespace {

void SetPath(Prepared* p, const std::string& base, const std::string& path) {
  p->request.set_url(base + path);
}

// A call that must outlive its deadline: tight gRPC deadline (unary), or
// request_timeout (stream).
void PastDeadline(Prepared* p, bool stream, absl::Duration bound) {
  p->expect = Expect::kError;
  if (stream) {
    SetDuration(p->request.mutable_request_timeout(), bound);
  } else {
    p->deadline = bound;
    p->tight = true;
  }
}

}  // namespace

std::vector<Route> MakeRoutes() {
  std::vector<Route> r;
  auto add = [&](std::string name, int origin, double uw, double sw,
                 std::function<void(std::mt19937_64&, bool, Prepared*)> make) {
    if (origins[origin].empty()) return;
    r.push_back({std::move(name), origin, uw, sw, std::move(make)});
  };
  add("GET /bytes (1 B-16 KiB)", kNormal, 30, 40, [](auto& rng, bool, Prepared* p) {
    const int64_t n = Uniform(rng, 1, 16384);
    SetPath(p, origins[kNormal], absl::StrCat("/bytes?n=", n));
    p->want_length = n;
  });
  add("POST /echo", kNormal, 10, 15, [](auto& rng, bool, Prepared* p) {
    p->request.set_method("POST");
    SetPath(p, origins[kNormal], "/echo");
    p->want_body = absl::StrCat("token-", p->request.id(), "-", Uniform(rng, 0, 1LL << 40));
    p->request.set_body(p->want_body);
  });
  add("GET /status/404", kNormal, 5, 5, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/status/404");
    p->want_status = 404;
    p->want_body = "status 404";
  });
  add("GET /reset", kNormal, 4, 3, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/reset");
    p->expect = Expect::kError;
  });
  add("GET /truncate", kNormal, 3, 3, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/truncate?promise=2000&send=500");
    p->expect = Expect::kError;
  });
  add("GET /reset_mid_body", kNormal, 2, 2, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/reset_mid_body?promise=8000&send=2000");
    p->expect = Expect::kError;
  });
  add("GET /close", kNormal, 4, 3, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/close");
    p->want_body = "closing";
  });
  add("GET /slowbody (~200 ms)", kNormal, 5, 5, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/slowbody?n=2000&interval_ms=25&chunk=250");
    p->want_length = 2000;
  });
  add("GET /sleep 400 ms, deadline 150 ms (drain)", kNormal, 4, 3, [](auto&, bool stream, Prepared* p) {
    SetPath(p, origins[kNormal], "/sleep?ms=400");
    PastDeadline(p, stream, absl::Milliseconds(150));
  });
  add("GET /sleep 400 ms, deadline 150 ms (abort)", kNormal, 2, 2, [](auto&, bool stream, Prepared* p) {
    SetPath(p, origins[kNormal], "/sleep?ms=400");
    p->request.set_deadline_policy(fetchpool::v1::DEADLINE_POLICY_ABORT);
    PastDeadline(p, stream, absl::Milliseconds(150));
  });
  add("GET /sleep 400 ms, request_timeout 120 ms", kNormal, 3, 2, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/sleep?ms=400");
    SetDuration(p->request.mutable_request_timeout(), absl::Milliseconds(120));
    p->expect = Expect::kError;
  });
  add("GET /slowbody 1 s, deadline 300 ms", kNormal, 3, 2, [](auto&, bool stream, Prepared* p) {
    SetPath(p, origins[kNormal], "/slowbody?n=6000&interval_ms=50&chunk=300");
    PastDeadline(p, stream, absl::Milliseconds(300));
  });
  add("GET /bytes 64 KiB, max_response_bytes 4 KiB", kNormal, 2, 2, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kNormal], "/bytes?n=65536");
    p->request.set_max_response_bytes(4096);
    p->expect = Expect::kError;
  });
  // The idle-closing origin: mostly the bursts (see Scheduler), a little here.
  add("idle-close origin: GET /bytes 256", kIdle, 0, 3, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kIdle], "/bytes?n=256");
    p->want_length = 256;
  });
  // The small pool: more demand than its cap serves, so it queues.
  add("small pool: GET /sleep 40-250 ms", kSlow, 20, 10, [](auto& rng, bool, Prepared* p) {
    SetPath(p, origins[kSlow], absl::StrCat("/sleep?ms=", Uniform(rng, 40, 250)));
    p->want_body = "slept";
    p->expect = Expect::kAny;
  });
  add("small pool: GET /sleep 40-250 ms, wait_timeout 100 ms", kSlow, 5, 3, [](auto& rng, bool, Prepared* p) {
    SetPath(p, origins[kSlow], absl::StrCat("/sleep?ms=", Uniform(rng, 40, 250)));
    SetDuration(p->request.mutable_wait_timeout(), absl::Milliseconds(100));
    p->want_body = "slept";
    p->expect = Expect::kAny;
  });
  add("refused port", kRefused, 1, 1, [](auto&, bool, Prepared* p) {
    SetPath(p, origins[kRefused], "/");
    p->expect = Expect::kError;
  });
  return r;
}

Route MakeIdleBurstRoute() {
  return {"idle-close origin: GET /bytes 256, bursts ~1 s apart", kIdle, 0, 0, [](auto&, bool, Prepared* p) {
            SetPath(p, origins[kIdle], "/bytes?n=256");
            p->want_length = 256;
          }};
}

}  // namespace fetchpool::soak
