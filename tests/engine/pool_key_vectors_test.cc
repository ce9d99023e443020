// client-sdk/testdata/pool_keys.tsv is the pool-key contract every SDK tests
// its own normalization against; this test holds the file to the server's
// parser, so an SDK that passes its vectors computes what fetchpoold does.
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "engine/url.h"
#include "gtest/gtest.h"

namespace fetchpool {
namespace {

std::vector<std::pair<std::string, std::string>> ReadVectors() {
  std::ifstream in(FETCHPOOL_SOURCE_DIR "/client-sdk/testdata/pool_keys.tsv");
  std::vector<std::pair<std::string, std::string>> vectors;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    if (cols.size() == 2) vectors.emplace_back(cols[0], cols[1]);
  }
  return vectors;
}

TEST(PoolKeyVectors, ServerParserAgreesWithEveryLine) {
  const auto vectors = ReadVectors();
  ASSERT_GE(vectors.size(), 20u) << "vectors file missing or cut short";
  for (const auto& [url, key] : vectors) {
    absl::StatusOr<HttpUrl> parsed = ParseHttpUrl("url", url);
    ASSERT_TRUE(parsed.ok()) << url << ": " << parsed.status();
    EXPECT_EQ(parsed->pool_key, key) << url;
  }
}

}  // namespace
}  // namespace fetchpool
