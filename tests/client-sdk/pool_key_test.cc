// The SDK's pool key against client-sdk/testdata/pool_keys.tsv, the vectors
// every SDK and the server (tests/engine/pool_key_vectors_test) share.
#include "fetchpool/pool_key.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_split.h"

namespace fetchpool {
namespace {

TEST(SdkPoolKeyTest, MatchesEveryVector) {
  std::ifstream in(FETCHPOOL_SOURCE_DIR "/client-sdk/testdata/pool_keys.tsv");
  ASSERT_TRUE(in) << "cannot read pool_keys.tsv";
  int checked = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    ASSERT_EQ(fields.size(), 2u) << line;
    EXPECT_EQ(PoolKey(fields[0]).value_or("<none>"), fields[1]) << fields[0];
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

TEST(SdkPoolKeyTest, NoKeyForWhatTheServerRefuses) {
  for (const char* url : {"", "ftp://example.com/", "example.com/x", "http://", "http://user:pw@example.com/",
                          "http://exa mple.com/", "http://example.com:0/", "http://a%20b.example/"}) {
    EXPECT_FALSE(PoolKey(url).has_value()) << url;
  }
}

}  // namespace
}  // namespace fetchpool
