#include "bench/soak/invariants.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace fetchpool::soak {

using fetchpool::v1::FetchResponse;
using fetchpool::v1::HostPoolStats;
using fetchpool::v1::StatsResponse;

namespace {

constexpr char kReasonTrailer[] = "fetchpool-reason";

// gRPC's status codes are the canonical ones absl names.
std::string CodeName(grpc::StatusCode code) {
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "CODE?" : name;
}

}  // namespace

void CheckStats(const StatsResponse& r, const std::string& source) {
  int64_t bad = 0;
  for (const HostPoolStats& p : r.pools()) {
    const int64_t live = int64_t{p.busy_connections()} + p.idle_connections() + p.connecting_connections();
    const std::string where =
        absl::StrCat(source, " ", p.host(), ": max ", p.max_connections(), " busy ", p.busy_connections(),
                     " idle ", p.idle_connections(), " connecting ", p.connecting_connections(), " waiting ",
                     p.wait_queue_length(), " opened ", p.connections_opened_total(), " closed ",
                     p.connections_closed_total());
    bool ok = true;
    if (live > int64_t{p.max_connections()}) {
      ledger->Violation("busy + idle + connecting > max_connections", where);
      ok = false;
    }
    if (p.max_idle_connections() > 0 && p.idle_connections() > p.max_idle_connections()) {
      ledger->Violation("idle > max_idle_connections", where);
      ok = false;
    }
    if (p.wait_queue_length() > 0 && p.idle_connections() > 0) {
      ledger->Violation("waiters while a connection is idle", where);
      ok = false;
    }
    if (p.wait_queue_length() > 0 && live < int64_t{p.max_connections()}) {
      ledger->Violation("waiters while the pool is below its cap", where);
      ok = false;
    }
    if (static_cast<int64_t>(p.connections_opened_total() - p.connections_closed_total()) != live) {
      ledger->Violation("opened - closed != busy + idle + connecting", where);
      ok = false;
    }
    if (!ok) ++bad;
  }
  ledger->StatsChecked(source, r.pools_size(), bad);
}

Outcome OutcomeOf(const grpc::Status& s, const grpc::ClientContext& ctx, const std::string& what) {
  if (s.ok()) return {"OK", ""};
  std::string trailer;
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(kReasonTrailer);
  if (it != md.end()) trailer.assign(it->second.data(), it->second.size());
  std::string prefix;
  const std::string& msg = s.error_message();
  const size_t colon = msg.find(':');
  if (colon != std::string::npos && colon > 0) {
    prefix = msg.substr(0, colon);
    bool all_caps = true;
    for (char c : prefix) all_caps &= (absl::ascii_isupper(c) || c == '_');
    if (!all_caps) prefix.clear();
  }
  if (!trailer.empty() && !prefix.empty() && trailer != prefix) {
    ledger->Violation("reason trailer and message prefix differ",
                      absl::StrCat(what, ": trailer ", trailer, ", message \"", msg, "\""));
  }
  if (!trailer.empty()) return {trailer, trailer};
  if (!prefix.empty()) {
    ledger->Violation("error without a fetchpool-reason trailer", absl::StrCat(what, ": \"", msg, "\""));
    return {prefix, prefix};
  }
  return {absl::StrCat(CodeName(s.error_code()), " (client side)"), ""};
}

std::string BodyMismatch(const Prepared& p, const FetchResponse& r) {
  if (r.status() != p.want_status) return absl::StrCat("HTTP ", r.status(), ", want ", p.want_status);
  if (p.want_length >= 0 && static_cast<int64_t>(r.body().size()) != p.want_length) {
    return absl::StrCat("body of ", r.body().size(), " bytes, want ", p.want_length);
  }
  if (!p.want_body.empty() && r.body() != p.want_body) {
    return absl::StrCat("body \"", r.body().substr(0, 60), "\", want \"", p.want_body, "\"");
  }
  return "";
}

void JudgeFetch(Kind kind, const Route& route, const Prepared& p, const FetchResponse* ok_response,
                const Outcome& outcome, bool cancelled_by_us) {
  const std::string what = absl::StrCat(kKindNames[kind], " ", p.request.id(), " ", route.name);
  std::string label = outcome.label;
  bool unexpected = false;
  if (ok_response != nullptr) {
    label = absl::StrCat("OK: HTTP ", ok_response->status());
    if (ok_response->id() != p.request.id()) {
      ledger->Violation("answer carries another call's id",
                        absl::StrCat(what, ": got id \"", ok_response->id(), "\""));
    }
    if (p.expect == Expect::kError) {
      ledger->Violation("OK answer for a route that cannot succeed", what);
    } else {
      const std::string mismatch = BodyMismatch(p, *ok_response);
      if (!mismatch.empty()) ledger->Violation("OK answer with the wrong status or body", what + ": " + mismatch);
    }
  } else {
    if (outcome.reason.empty()) {
      // The client's own deadline or cancel.
      if (absl::StartsWith(label, "CANCELLED") && !cancelled_by_us) {
        ledger->Violation("CANCELLED without a caller cancel", what);
      }
      if (absl::StartsWith(label, "DEADLINE_EXCEEDED") && !p.tight) {
        ledger->Violation("no answer before the call's safety deadline (hang)",
                          absl::StrCat(what, " (deadline ", absl::FormatDuration(p.deadline), ")"));
      }
    } else if (outcome.reason == "INTERNAL") {
      ledger->Violation("INTERNAL error", what);
    } else if (outcome.reason == "CANCELLED" && !cancelled_by_us) {
      ledger->Violation("CANCELLED without a caller cancel", what);
    }
    if (p.expect == Expect::kOk && !cancelled_by_us) unexpected = true;
  }
  ledger->Answered(kind, label);
  ledger->Route(route.name, label, unexpected);
}

}  // namespace fetchpool::soak
