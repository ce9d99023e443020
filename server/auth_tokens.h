#ifndef FETCHPOOL_SERVER_AUTH_TOKENS_H_
#define FETCHPOOL_SERVER_AUTH_TOKENS_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace fetchpool {

// The callers' bearer tokens (--auth_tokens_file): one `caller-name token`
// per line, `#` comments and blank lines allowed. Immutable after Parse, so
// any thread may call Lookup.
//
// Only SHA-256 digests of the tokens are kept, and Lookup compares the
// digest of the presented token with every entry using CRYPTO_memcmp and no
// early exit: the time taken reveals neither the token's length nor how
// much of a prefix matched, nor which entry matched.
class AuthTokens {
 public:
  static constexpr size_t kMinTokenBytes = 16;

  // INVALID_ARGUMENT naming file:line for a malformed line, a token shorter
  // than kMinTokenBytes, or a duplicate name or token.
  static absl::StatusOr<AuthTokens> Parse(absl::string_view text, absl::string_view file_name);
  // Reads and parses the file; the message names --auth_tokens_file.
  static absl::StatusOr<AuthTokens> Load(const std::string& path);

  // The caller name the token belongs to, or nullopt.
  absl::optional<std::string> Lookup(absl::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest Sha256(absl::string_view text);
  struct Entry {
    std::string caller;
    Digest digest;
  };
  std::vector<Entry> entries_;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_AUTH_TOKENS_H_
