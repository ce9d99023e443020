#include "common/curl_url_parts.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace fetchpool {

absl::optional<std::string> GetUrlPart(CURLU* h, CURLUPart part, unsigned flags) {
  char* value = nullptr;
  if (curl_url_get(h, part, &value, flags) != CURLUE_OK || value == nullptr) {
    return absl::nullopt;
  }
  std::string out(value);
  curl_free(value);
  return out;
}

bool IsHostNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

size_t FindBadUrlByte(absl::string_view url) {
  for (size_t i = 0; i < url.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(url[i]);
    if (c <= 0x20 || c >= 0x7f) return i;
  }
  return absl::string_view::npos;
}

std::string PoolKeyHost(const std::string& host, const absl::optional<std::string>& zone) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string inner = host.substr(1, host.size() - 2);
    in6_addr addr;
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_pton(AF_INET6, inner.c_str(), &addr) == 1 &&
        inet_ntop(AF_INET6, &addr, buf, sizeof(buf)) != nullptr) {
      inner = buf;
    }
    // Two interfaces' fe80::1 are different hosts.
    if (zone.has_value() && !zone->empty()) absl::StrAppend(&inner, "%25", *zone);
    return absl::StrCat("[", absl::AsciiStrToLower(inner), "]");
  }
  return absl::AsciiStrToLower(host);
}

}  // namespace fetchpool
