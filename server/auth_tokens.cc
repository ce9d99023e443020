#include "server/auth_tokens.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fetchpool {

AuthTokens::Digest AuthTokens::Sha256(absl::string_view text) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

absl::StatusOr<AuthTokens> AuthTokens::Parse(absl::string_view text, absl::string_view file_name) {
  AuthTokens tokens;
  std::map<std::string, int> names;               // name -> line
  std::map<Digest, int> digests;                  // token digest -> line
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const std::string where = absl::StrCat(file_name, ":", line_number);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected `caller-name token`, found ", fields.size(),
                       " fields (the token must not contain spaces)"));
    }
    const std::string name(fields[0]);
    const absl::string_view token = fields[1];
    for (unsigned char c : name) {
      if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.' && c != '@' && c != ':' &&
          c != '/') {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": caller name \"", absl::CHexEscape(name),
                         "\" has characters other than letters, digits and -_.@:/"));
      }
    }
    if (name == "anonymous") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"anonymous\" is the name of callers without credentials"));
    }
    if (token.size() < kMinTokenBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the token of ", name, " is ", token.size(),
                       " bytes; tokens must be at least ", kMinTokenBytes,
                       " bytes (e.g. `openssl rand -hex 32`)"));
    }
    if (auto [it, inserted] = names.emplace(name, line_number); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": caller ", name,
                                                     " already has a token at line ", it->second,
                                                     "; one token per caller"));
    }
    const Digest digest = Sha256(token);
    if (auto [it, inserted] = digests.emplace(digest, line_number); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the token of ", name, " is the same as the one at line ", it->second,
          "; every caller needs a token of its own"));
    }
    tokens.entries_.push_back({name, digest});
  }
  return tokens;
}

absl::StatusOr<AuthTokens> AuthTokens::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("--auth_tokens_file: cannot read \"", path,
                                                   "\": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<AuthTokens> tokens = Parse(text.str(), path);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth_tokens_file: ", tokens.status().message()));
  }
  if (tokens->size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth_tokens_file: \"", path, "\" holds no tokens; every caller would be refused"));
  }
  return tokens;
}

absl::optional<std::string> AuthTokens::Lookup(absl::string_view token) const {
  const Digest presented = Sha256(token);
  const Entry* match = nullptr;
  // Every entry is compared, with no early exit.
  for (const Entry& entry : entries_) {
    const bool equal = CRYPTO_memcmp(entry.digest.data(), presented.data(), presented.size()) == 0;
    if (equal) match = &entry;
  }
  if (match == nullptr) return absl::nullopt;
  return match->caller;
}

}  // namespace fetchpool
