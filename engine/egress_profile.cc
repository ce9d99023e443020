#include "engine/egress_profile.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/reason.h"

namespace fetchpool {
namespace {

std::string NormalizeHost(absl::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return absl::AsciiStrToLower(host);
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool DefaultAllowsMethod(absl::string_view method) {
  return method != "TRACE" && method != "CONNECT";
}

// `host` as a sockaddr when it is an IP literal.
bool LiteralAddress(const std::string& host, sockaddr_storage* out) {
  *out = {};
  sockaddr_in in{};
  sockaddr_in6 in6{};
  if (inet_pton(AF_INET, host.c_str(), &in.sin_addr) == 1) {
    in.sin_family = AF_INET;
    std::memcpy(out, &in, sizeof(in));
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    std::memcpy(out, &in6, sizeof(in6));
    return true;
  }
  return false;
}

absl::Status ParsePatterns(const std::vector<std::string>& texts, absl::string_view setting,
                           std::vector<HostPattern>* out) {
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::StatusOr<HostPattern> p = HostPattern::Parse(texts[i]);
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(setting, " entry ", i + 1, " is invalid: ", p.status().message()));
    }
    out->push_back(*std::move(p));
  }
  return absl::OkStatus();
}

template <typename T>
bool EachWithinSome(const std::vector<T>& inner, const std::vector<T>& outer) {
  return std::all_of(inner.begin(), inner.end(), [&](const T& i) {
    return std::any_of(outer.begin(), outer.end(), [&](const T& o) { return i.Within(o); });
  });
}

}  // namespace

absl::StatusOr<HostPattern> HostPattern::Parse(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  HostPattern p;
  if (absl::StartsWith(t, "*.")) {
    p.wildcard = true;
    t.remove_prefix(2);
  }
  p.name = NormalizeHost(t);
  const bool ok = !p.name.empty() && std::all_of(p.name.begin(), p.name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
           c == '_' || c == ':';
  });
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", absl::CHexEscape(text),
        "\" is not a host pattern; write a host (api.example.com, 10.1.2.3) or *.example.com "
        "for the names below example.com"));
  }
  return p;
}

bool HostPattern::Matches(absl::string_view host) const {
  const std::string h = NormalizeHost(host);
  if (!wildcard) return h == name;
  return h.size() > name.size() + 1 && absl::EndsWith(h, name) &&
         h[h.size() - name.size() - 1] == '.';
}

bool HostPattern::Within(const HostPattern& outer) const {
  if (!outer.wildcard) return !wildcard && name == outer.name;
  // "*.a.example.com" and "a.example.com" are inside "*.example.com";
  // "*.example.com" is inside "*.example.com" too.
  if (wildcard && name == outer.name) return true;
  return outer.Matches(name);
}

std::string HostPattern::ToString() const { return wildcard ? absl::StrCat("*.", name) : name; }

std::string HostOfPoolKey(absl::string_view pool_key) {
  absl::string_view rest = pool_key;
  if (size_t scheme = rest.find("://"); scheme != absl::string_view::npos) {
    rest.remove_prefix(scheme + 3);
  }
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    return std::string(rest.substr(1, close == absl::string_view::npos ? rest.size() : close - 1));
  }
  if (size_t colon = rest.rfind(':'); colon != absl::string_view::npos) {
    rest = rest.substr(0, colon);
  }
  return std::string(rest);
}

absl::StatusOr<std::shared_ptr<const EgressProfile>> EgressProfile::Create(
    const EgressProfileSettings& s) {
  auto in_profile = [&](const absl::Status& status) {
    return absl::InvalidArgumentError(
        absl::StrCat("egress profile \"", s.name, "\": ", status.message()));
  };
  std::shared_ptr<EgressProfile> p(new EgressProfile());
  p->name_ = s.name;
  absl::StatusOr<DestinationPolicy> destinations =
      DestinationPolicy::Create(s.allow_cidrs, s.deny_cidrs, s.deny_private_networks);
  if (!destinations.ok()) return in_profile(destinations.status());
  p->destinations_ = *std::move(destinations);
  if (absl::Status st = ParsePatterns(s.allow_hosts, "allow_hosts", &p->allow_hosts_); !st.ok()) {
    return in_profile(st);
  }
  if (absl::Status st = ParsePatterns(s.deny_hosts, "deny_hosts", &p->deny_hosts_); !st.ok()) {
    return in_profile(st);
  }
  p->allow_list_only_ = s.allow_list_only;
  for (const std::string& m : s.methods) {
    std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(m));
    if (upper.empty() || !std::all_of(upper.begin(), upper.end(), IsTokenChar)) {
      return in_profile(absl::InvalidArgumentError(absl::StrCat(
          "methods entry \"", absl::CHexEscape(m), "\" is not an HTTP method (write e.g. GET)")));
    }
    if (std::find(p->methods_.begin(), p->methods_.end(), upper) == p->methods_.end()) {
      p->methods_.push_back(std::move(upper));
    }
  }
  p->allow_host_header_ = s.allow_host_header;
  for (const std::string& h : s.credential_headers) {
    std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(h));
    if (lower.empty() || !std::all_of(lower.begin(), lower.end(), IsTokenChar)) {
      return in_profile(absl::InvalidArgumentError(absl::StrCat(
          "credential_headers entry \"", absl::CHexEscape(h), "\" is not a header name")));
    }
    p->credential_headers_.push_back(std::move(lower));
  }
  return std::shared_ptr<const EgressProfile>(std::move(p));
}

bool EgressProfile::AllowsMethod(absl::string_view method) const {
  const std::string upper = absl::AsciiStrToUpper(method);
  if (methods_.empty()) return DefaultAllowsMethod(upper);
  return std::find(methods_.begin(), methods_.end(), upper) != methods_.end();
}

absl::Status EgressProfile::CheckHost(absl::string_view host) const {
  const std::string h = NormalizeHost(host);
  auto matches = [&](const std::vector<HostPattern>& patterns) -> const HostPattern* {
    for (const HostPattern& p : patterns) {
      if (p.Matches(h)) return &p;
    }
    return nullptr;
  };
  if (matches(allow_hosts_) != nullptr) return absl::OkStatus();
  if (const HostPattern* deny = matches(deny_hosts_)) {
    return MakeError(Reason::kDestinationDenied,
                     absl::StrCat("host ", h, " is denied by deny_hosts entry ", deny->ToString(),
                                  " of egress profile \"", name_, "\"; add an allow_hosts entry "
                                  "to open it"));
  }
  if (allow_list_only_) {
    sockaddr_storage literal;
    if (LiteralAddress(h, &literal)) {
      for (const Cidr& cidr : destinations_.allow()) {
        if (cidr.Contains(reinterpret_cast<const sockaddr*>(&literal))) return absl::OkStatus();
      }
    }
    std::vector<std::string> allowed;
    for (const HostPattern& p : allow_hosts_) allowed.push_back(p.ToString());
    return MakeError(Reason::kDestinationDenied,
                     absl::StrCat("host ", h, " is not in the allow list of egress profile \"",
                                  name_, "\" (allow_list_only; allow_hosts: ",
                                  allowed.empty() ? "none" : absl::StrJoin(allowed, ", "), ")"));
  }
  return absl::OkStatus();
}

absl::Status EgressProfile::CheckRequest(const FetchSpec& spec) const {
  if (!AllowsMethod(spec.method)) {
    return MakeError(
        Reason::kMethodDenied,
        absl::StrCat("method ", spec.method, " is not allowed by egress profile \"", name_,
                     "\" (allowed: ",
                     methods_.empty() ? "every method except TRACE and CONNECT"
                                      : absl::StrJoin(methods_, ", "),
                     ")"));
  }
  if (!allow_host_header_) {
    for (const auto& [header, value] : spec.headers) {
      if (absl::EqualsIgnoreCase(header, "host")) {
        return MakeError(Reason::kInvalidHeader,
                         absl::StrCat("the Host header may not be set under egress profile \"",
                                      name_, "\" (allow_host_header is off); fetchpool sends "
                                      "the URL's host"));
      }
    }
  }
  return CheckHost(HostOfPoolKey(spec.pool_key));
}

std::string EgressProfile::Explain(const sockaddr* addr) const {
  return absl::StrCat(destinations_.Explain(addr), " [egress profile \"", name_, "\"]");
}

bool Narrows(const EgressProfile& stricter, const EgressProfile& looser) {
  // Methods: every method `stricter` allows, `looser` allows.
  if (stricter.methods().empty()) {
    if (!looser.methods().empty()) return false;
  } else {
    for (const std::string& m : stricter.methods()) {
      if (!looser.AllowsMethod(m)) return false;
    }
  }
  if (stricter.allow_host_header() && !looser.allow_host_header()) return false;
  if (looser.destinations().deny_private_networks() &&
      !stricter.destinations().deny_private_networks()) {
    return false;
  }
  if (looser.allow_list_only() && !stricter.allow_list_only()) return false;
  if (!EachWithinSome(looser.destinations().operator_deny(),
                      stricter.destinations().operator_deny())) {
    return false;
  }
  if (!EachWithinSome(stricter.destinations().allow(), looser.destinations().allow())) {
    return false;
  }
  if (!EachWithinSome(looser.deny_hosts(), stricter.deny_hosts())) return false;
  if (!EachWithinSome(stricter.allow_hosts(), looser.allow_hosts())) return false;
  for (const std::string& h : looser.credential_headers()) {
    const auto& mine = stricter.credential_headers();
    if (std::find(mine.begin(), mine.end(), h) == mine.end()) return false;
  }
  return true;
}

}  // namespace fetchpool
