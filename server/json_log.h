#ifndef FETCHPOOL_SERVER_JSON_LOG_H_
#define FETCHPOOL_SERVER_JSON_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fetchpool {

// One JSON object per line on stderr, for log shippers:
// {"ts":"2026-11-24T10:00:00.123Z","level":"info","event":"start","listen":"0.0.0.0:50051"}
// Only notable events are logged; there is no per-request log.
void LogEvent(absl::string_view level, absl::string_view event,
              const std::vector<std::pair<std::string, std::string>>& fields = {});

// Lines below the minimum level are dropped. The level names are the
// `level` values LogEvent is called with; "info" by default.
enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);  // "debug" ... "error"
// Any thread, at any time (a config reload changes it).
void SetMinLogLevel(LogLevel level);

// JSON string escaping (quotes included).
std::string JsonQuote(absl::string_view text);

}  // namespace fetchpool

#endif  // FETCHPOOL_SERVER_JSON_LOG_H_
