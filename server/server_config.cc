#include "server/server_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/destination_policy.h"
#include "fetchpool/v1/config.pb.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "server/egress_profile_config.h"
#include "server/request_validation.h"
#include "server/server_config_checks.h"

namespace fetchpool {
namespace {

using fetchpool::v1::HostOverride;
using fetchpool::v1::ServerConfigFile;
using google::protobuf::TextFormat;

// The per-host pool settings. The first column is the setting's name, which
// is at once the flag name and the field name in ServerConfigFile and
// HostOverride; the second the HostConfig member; the third how the
// config file spells the value (Plain: same type; Duration: "250ms";
// OnDeadline: "abort" | "drain"; HttpVersion: "auto" | "h2c" | "http1.1").
#define FETCHPOOL_POOL_SETTINGS(X)                                   \
  X(max_connections_per_host, pool.max_connections, Plain)           \
  X(max_idle_connections_per_host, pool.max_idle_connections, Plain) \
  X(max_waiters_per_host, pool.max_waiters, Plain)                   \
  X(wait_timeout, pool.wait_timeout, Duration)                       \
  X(idle_timeout, pool.idle_timeout, Duration)                       \
  X(connect_timeout, fetch.connect_timeout, Duration)                \
  X(max_response_bytes, fetch.max_response_bytes, Plain)             \
  X(on_deadline, fetch.on_deadline, OnDeadline)                      \
  X(drain_max_bytes, fetch.drain_max_bytes, Plain)                   \
  X(drain_timeout, fetch.drain_timeout, Duration)                    \
  X(learn_keep_alive, pool.learn_keep_alive, Plain)                  \
  X(max_connection_lifetime, pool.max_connection_lifetime, Duration) \
  /* hostile origins (issue 11) */                                   \
  X(max_response_header_bytes, fetch.max_response_header_bytes, Plain) \
  X(max_response_headers, fetch.max_response_headers, Plain)         \
  X(min_transfer_speed, fetch.min_transfer_speed, Plain)             \
  X(min_transfer_speed_window, fetch.min_transfer_speed_window, Duration) \
  X(max_request_time, fetch.max_request_time, Duration)           \
  X(ca_file, fetch.ca_file, Plain)                                   \
  /* HTTP/2 to origins (issue 14) */                                 \
  X(http_version, fetch.http_version, HttpVersion)                   \
  X(max_streams_per_connection, pool.max_streams_per_connection, Plain)

// Per-host TLS settings that exist only in host blocks of the config file
// (no flag, no service-wide value): a client certificate belongs to one
// origin, and turning verification off must name the one host it weakens.
#define FETCHPOOL_HOST_ONLY_SETTINGS(X)                      \
  X(tls_client_cert_file, fetch.tls_client_cert_file, Plain) \
  X(tls_client_key_file, fetch.tls_client_key_file, Plain)   \
  X(insecure_skip_verify, fetch.insecure_skip_verify, Plain)

// Where each setting's value came from, for messages: "--idle_timeout" or
// "fetchpool.conf:7". A setting missing from the map has its embedded default.
using Origins = std::map<std::string, std::string>;

// The settings one source gives: the values, and which of them it sets.
struct ServerLayer {
  ServerConfig values;
  Origins set;
};
struct HostLayer {
  std::string pool_key;  // normalized
  std::string origin;    // "fetchpool.conf:12", the host block
  HostConfig values;
  Origins set;
};

bool CopyPoolSetting(absl::string_view name, const HostConfig& from, HostConfig* to) {
#define FETCHPOOL_COPY_POOL(setting, member, kind) \
  if (name == #setting) {                          \
    to->member = from.member;                      \
    return true;                                   \
  }
  FETCHPOOL_POOL_SETTINGS(FETCHPOOL_COPY_POOL)
  FETCHPOOL_HOST_ONLY_SETTINGS(FETCHPOOL_COPY_POOL)
#undef FETCHPOOL_COPY_POOL
  return false;
}

bool CopyServerSetting(absl::string_view name, const ServerConfig& from, ServerConfig* to) {
  if (CopyPoolSetting(name, from.engine.defaults, &to->engine.defaults)) return true;
  if (name == "listen") {
    to->listen = from.listen;
  } else if (name == "metrics_listen") {
    to->metrics_listen = from.metrics_listen;
  } else if (name == "shutdown_grace") {
    to->shutdown_grace = from.shutdown_grace;
  } else if (name == "log_level") {
    to->log_level = from.log_level;
  } else if (name == "trace_propagation") {
    to->trace_propagation = from.trace_propagation;
  } else if (name == "drain_delay") {
    to->drain_delay = from.drain_delay;
  } else if (name == "max_connection_age") {
    to->max_connection_age = from.max_connection_age;
  } else if (name == "max_connection_age_grace") {
    to->max_connection_age_grace = from.max_connection_age_grace;
  } else if (name == "max_pools") {
    to->engine.max_pools = from.engine.max_pools;
  } else if (name == "event_loops") {
    to->engine.event_loops = from.engine.event_loops;
  } else if (name == "evict_empty_pool_after") {
    to->engine.evict_empty_pool_after = from.engine.evict_empty_pool_after;
  } else if (name == "tls_cert_file") {
    to->tls_cert_file = from.tls_cert_file;
  } else if (name == "tls_key_file") {
    to->tls_key_file = from.tls_key_file;
  } else if (name == "tls_client_ca_file") {
    to->tls_client_ca_file = from.tls_client_ca_file;
  } else if (name == "auth_tokens_file") {
    to->auth_tokens_file = from.auth_tokens_file;
  } else if (name == "max_inflight_per_caller") {
    to->max_inflight_per_caller = from.max_inflight_per_caller;
  } else if (name == "max_watch_streams") {
    to->max_watch_streams = from.max_watch_streams;
  } else if (name == "stats_callers") {
    to->stats_callers = from.stats_callers;
  } else if (name == "allow_cidrs") {
    to->engine.allow_cidrs = from.engine.allow_cidrs;
  } else if (CopyEgressSetting(name, from.engine, &to->engine)) {
    return true;
  } else if (name == "max_buffered_bytes") {
    to->engine.max_buffered_bytes = from.engine.max_buffered_bytes;
  } else if (name == "max_stream_inflight") {
    to->max_stream_inflight = from.max_stream_inflight;
  } else if (name == "max_new_pools_per_caller_per_minute") {
    to->engine.max_new_pools_per_caller_per_minute =
        from.engine.max_new_pools_per_caller_per_minute;
  } else {
    return false;
  }
  return true;
}

bool IsSettingName(absl::string_view name) {
  ServerConfig scratch;
  return CopyServerSetting(name, scratch, &scratch);
}

// ---- Reading the config file ----

// The first error the text-format parser reports, with its position.
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!has_error_) {
      has_error_ = true;
      line_ = line;
      column_ = column;
      message_ = message;
    }
  }
  // "file:line:column: setting: message"; the setting is the field named
  // before the error on its line, when there is one (the parser's own
  // message names only the token it did not expect).
  std::string Describe(absl::string_view file, absl::string_view text) const {
    if (line_ < 0) return absl::StrCat(file, ": ", message_);
    std::string where = absl::StrCat(file, ":", line_ + 1, ":", column_ + 1, ": ");
    std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
    if (static_cast<size_t>(line_) < lines.size()) {
      absl::string_view before = lines[line_].substr(0, static_cast<size_t>(column_));
      const size_t colon = before.rfind(':');
      if (colon != absl::string_view::npos) {
        absl::string_view name = absl::StripAsciiWhitespace(before.substr(0, colon));
        const size_t start = name.find_last_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (start != absl::string_view::npos) name.remove_prefix(start + 1);
        if (!name.empty()) absl::StrAppend(&where, name, ": ");
      }
    }
    return absl::StrCat(where, message_);
  }

 private:
  bool has_error_ = false;
  int line_ = -1;
  int column_ = -1;
  std::string message_;
};

// Turns a field of a parsed message into "file:line" for messages.
class Locator {
 public:
  Locator(absl::string_view file, const google::protobuf::Descriptor* descriptor,
          const TextFormat::ParseInfoTree* tree)
      : file_(file), descriptor_(descriptor), tree_(tree) {}

  std::string Line(absl::string_view field, int index = -1) const {
    const google::protobuf::FieldDescriptor* fd =
        descriptor_->FindFieldByName(std::string(field));
    int line = (fd != nullptr && tree_ != nullptr) ? tree_->GetLocation(fd, index).line : -1;
    return line < 0 ? file_ : absl::StrCat(file_, ":", line + 1);
  }

 private:
  std::string file_;
  const google::protobuf::Descriptor* descriptor_;
  const TextFormat::ParseInfoTree* tree_;
};

template <typename T, typename U>
absl::Status ReadPlain(const T& in, U* out) {
  *out = in;
  return absl::OkStatus();
}

absl::Status ReadDuration(const std::string& text, absl::Duration* out) {
  // absl::ParseDuration takes "0" and "inf" as well; range checks come later
  // with the other settings, in ValidateServerConfig.
  if (!absl::ParseDuration(text, out)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", absl::CHexEscape(text),
        "\" is not a duration; write it with a unit, e.g. \"30s\", \"250ms\" or \"2m\""));
  }
  return absl::OkStatus();
}

absl::Status ReadOnDeadline(const std::string& text, OnDeadline* out) {
  absl::StatusOr<OnDeadline> policy = ParseOnDeadline(text);
  if (!policy.ok()) return policy.status();
  *out = *policy;
  return absl::OkStatus();
}

absl::Status ReadHttpVersion(const std::string& text, HttpVersion* out) {
  absl::StatusOr<HttpVersion> version = ParseHttpVersion(text);
  if (!version.ok()) return version.status();
  *out = *version;
  return absl::OkStatus();
}

absl::Status FieldError(const std::string& where, absl::string_view field,
                        absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", field, ": ", message));
}

// Reads the pool settings a ServerConfigFile or HostOverride sets; both have
// the same field names (FETCHPOOL_POOL_SETTINGS).
template <typename Msg>
absl::Status ReadPoolSettings(const Msg& msg, const Locator& locator, HostConfig* values,
                              Origins* set) {
#define FETCHPOOL_READ_POOL(setting, member, kind)                              \
  if (msg.has_##setting()) {                                                    \
    std::string where = locator.Line(#setting);                                 \
    absl::Status s = Read##kind(msg.setting(), &values->member);               \
    if (!s.ok()) return FieldError(where, #setting, s.message());              \
    (*set)[#setting] = where;                                                   \
  }
  FETCHPOOL_POOL_SETTINGS(FETCHPOOL_READ_POOL)
  return absl::OkStatus();
}

absl::Status ReadHostOnlySettings(const HostOverride& msg, const Locator& locator,
                                  HostConfig* values, Origins* set) {
  FETCHPOOL_HOST_ONLY_SETTINGS(FETCHPOOL_READ_POOL)
  return absl::OkStatus();
}
#undef FETCHPOOL_READ_POOL

absl::Status ReadServerSettings(const ServerConfigFile& file, const Locator& locator,
                                ServerLayer* layer) {
  ServerConfig& v = layer->values;
  if (file.has_listen()) {
    v.listen = file.listen();
    layer->set["listen"] = locator.Line("listen");
  }
  if (file.has_log_level()) {
    v.log_level = file.log_level();
    layer->set["log_level"] = locator.Line("log_level");
  }
  if (file.has_trace_propagation()) {
    v.trace_propagation = file.trace_propagation();
    layer->set["trace_propagation"] = locator.Line("trace_propagation");
  }
  if (file.has_metrics_listen()) {
    v.metrics_listen = file.metrics_listen();
    layer->set["metrics_listen"] = locator.Line("metrics_listen");
  }
  // The service-wide durations: parsed, and their line recorded.
  auto duration = [&](const char* name, bool has, const std::string& text,
                      absl::Duration* out) -> absl::Status {
    if (!has) return absl::OkStatus();
    std::string where = locator.Line(name);
    absl::Status s = ReadDuration(text, out);
    if (!s.ok()) return FieldError(where, name, s.message());
    layer->set[name] = where;
    return absl::OkStatus();
  };
  for (absl::Status s : {
           duration("shutdown_grace", file.has_shutdown_grace(), file.shutdown_grace(),
                    &v.shutdown_grace),
           duration("drain_delay", file.has_drain_delay(), file.drain_delay(), &v.drain_delay),
           duration("max_connection_age", file.has_max_connection_age(),
                    file.max_connection_age(), &v.max_connection_age),
           duration("max_connection_age_grace", file.has_max_connection_age_grace(),
                    file.max_connection_age_grace(), &v.max_connection_age_grace),
       }) {
    if (!s.ok()) return s;
  }
  if (file.has_max_pools()) {
    v.engine.max_pools = file.max_pools();
    layer->set["max_pools"] = locator.Line("max_pools");
  }
  if (file.has_event_loops()) {
    v.engine.event_loops = file.event_loops();
    layer->set["event_loops"] = locator.Line("event_loops");
  }
  if (file.has_evict_empty_pool_after()) {
    std::string where = locator.Line("evict_empty_pool_after");
    absl::Status s = ReadDuration(file.evict_empty_pool_after(), &v.engine.evict_empty_pool_after);
    if (!s.ok()) return FieldError(where, "evict_empty_pool_after", s.message());
    layer->set["evict_empty_pool_after"] = where;
  }
  if (file.allow_cidrs_size() > 0) {
    v.engine.allow_cidrs.assign(file.allow_cidrs().begin(), file.allow_cidrs().end());
    layer->set["allow_cidrs"] = locator.Line("allow_cidrs", 0);
  }
  absl::Status egress = ReadEgressProfiles(
      file, [&](absl::string_view field, int index) { return locator.Line(field, index); },
      &v.engine, [&](const std::string& name, const std::string& where) { layer->set[name] = where; });
  if (!egress.ok()) return egress;
  if (file.has_max_buffered_bytes()) {
    v.engine.max_buffered_bytes = file.max_buffered_bytes();
    layer->set["max_buffered_bytes"] = locator.Line("max_buffered_bytes");
  }
  if (file.has_max_stream_inflight()) {
    v.max_stream_inflight = file.max_stream_inflight();
    layer->set["max_stream_inflight"] = locator.Line("max_stream_inflight");
  }
  if (file.has_max_new_pools_per_caller_per_minute()) {
    v.engine.max_new_pools_per_caller_per_minute = file.max_new_pools_per_caller_per_minute();
    layer->set["max_new_pools_per_caller_per_minute"] =
        locator.Line("max_new_pools_per_caller_per_minute");
  }
  // Caller identity and per-caller limits.
#define FETCHPOOL_READ_AUTH_PLAIN(setting, member)    \
  if (file.has_##setting()) {                         \
    v.member = file.setting();                        \
    layer->set[#setting] = locator.Line(#setting);    \
  }
  FETCHPOOL_READ_AUTH_PLAIN(tls_cert_file, tls_cert_file)
  FETCHPOOL_READ_AUTH_PLAIN(tls_key_file, tls_key_file)
  FETCHPOOL_READ_AUTH_PLAIN(tls_client_ca_file, tls_client_ca_file)
  FETCHPOOL_READ_AUTH_PLAIN(auth_tokens_file, auth_tokens_file)
  FETCHPOOL_READ_AUTH_PLAIN(max_inflight_per_caller, max_inflight_per_caller)
  FETCHPOOL_READ_AUTH_PLAIN(max_watch_streams, max_watch_streams)
#undef FETCHPOOL_READ_AUTH_PLAIN
  if (file.stats_callers_size() > 0) {
    v.stats_callers.assign(file.stats_callers().begin(), file.stats_callers().end());
    layer->set["stats_callers"] = locator.Line("stats_callers", 0);
  }
  return ReadPoolSettings(file, locator, &v.engine.defaults, &layer->set);
}

absl::Status ParseConfigFile(const std::string& text, absl::string_view file_name,
                             ServerLayer* layer, std::vector<HostLayer>* hosts) {
  ServerConfigFile file;
  TextFormat::Parser parser;
  FirstErrorCollector errors;
  TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(text, &file)) {
    return absl::InvalidArgumentError(absl::StrCat(
        errors.Describe(file_name, text),
        " (the config file is protobuf text format of fetchpool.v1.ServerConfigFile; "
        "see proto/fetchpool/v1/config.proto for the field names)"));
  }
  Locator top(file_name, ServerConfigFile::descriptor(), &tree);
  absl::Status s = ReadServerSettings(file, top, layer);
  if (!s.ok()) return s;

  const google::protobuf::FieldDescriptor* host_field =
      ServerConfigFile::descriptor()->FindFieldByName("host");
  std::map<std::string, std::string> seen;  // pool key -> where
  for (int i = 0; i < file.host_size(); ++i) {
    const HostOverride& block = file.host(i);
    Locator inner(file_name, HostOverride::descriptor(), tree.GetTreeForNested(host_field, i));
    HostLayer host;
    host.origin = top.Line("host", i);
    if (block.pool_key().empty()) {
      return FieldError(host.origin, "host",
                        "the block has no pool_key; write e.g. pool_key: \"http://api:80\"");
    }
    absl::StatusOr<std::string> key = NormalizePoolKey(block.pool_key());
    if (!key.ok()) return FieldError(inner.Line("pool_key"), "pool_key", key.status().message());
    host.pool_key = *key;
    if (auto [it, inserted] = seen.emplace(host.pool_key, host.origin); !inserted) {
      return FieldError(inner.Line("pool_key"), "pool_key",
                        absl::StrCat("\"", absl::CHexEscape(block.pool_key()), "\" is the pool ",
                                     host.pool_key, ", which already has a host block at ",
                                     it->second, "; merge the two"));
    }
    s = ReadPoolSettings(block, inner, &host.values, &host.set);
    if (!s.ok()) return s;
    s = ReadHostOnlySettings(block, inner, &host.values, &host.set);
    if (!s.ok()) return s;
    hosts->push_back(std::move(host));
  }
  return absl::OkStatus();
}

// " (set by --idle_timeout)" for a message from a Validate(); these begin
// with the name of the setting they complain about.
std::string OriginNote(const Origins& origins, absl::string_view message) {
  absl::string_view name =
      message.substr(0, message.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"));
  if (!IsSettingName(name)) return "";
  auto it = origins.find(std::string(name));
  if (it == origins.end()) return " (the embedded default)";
  return absl::StrCat(" (set by ", it->second, ")");
}

}  // namespace

absl::StatusOr<OnDeadline> ParseOnDeadline(absl::string_view text) {
  if (text == "abort") return OnDeadline::kAbort;
  if (text == "drain") return OnDeadline::kDrain;
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", absl::CHexEscape(text), "\" is not an on_deadline policy; write abort or drain"));
}

std::string OnDeadlineName(OnDeadline policy) {
  return policy == OnDeadline::kAbort ? "abort" : "drain";
}

absl::StatusOr<ServerConfig> BuildServerConfig(
    const ServerConfig& from_flags, const std::vector<std::string>& explicitly_set_flag_names,
    const absl::optional<std::string>& config_file_text, absl::string_view config_file_name) {
  ServerConfig config;  // the embedded defaults
  Origins origins;
  std::vector<HostLayer> hosts;
  if (config_file_text.has_value()) {
    ServerLayer file;
    absl::Status s = ParseConfigFile(*config_file_text, config_file_name, &file, &hosts);
    if (!s.ok()) return s;
    for (const auto& [name, where] : file.set) {
      CopyServerSetting(name, file.values, &config);
      origins[name] = where;
    }
  }
  for (const std::string& name : explicitly_set_flag_names) {
    if (!CopyServerSetting(name, from_flags, &config)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " is not a server setting"));
    }
    origins[name] = absl::StrCat("--", name);
  }

  // Hosts start from the final service-wide values, flags included: a flag
  // changes every host except those that set the same setting themselves.
  std::map<std::string, const HostLayer*> host_by_key;
  for (const HostLayer& host : hosts) {
    HostConfig settings = config.engine.defaults;
    for (const auto& entry : host.set) CopyPoolSetting(entry.first, host.values, &settings);
    config.engine.per_host[host.pool_key] = settings;
    host_by_key[host.pool_key] = &host;
  }

  absl::optional<ConfigProblem> problem = FindConfigProblem(config);
  if (!problem.has_value()) return config;
  const absl::string_view message = problem->status.message();
  if (problem->host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(message, OriginNote(origins, message)));
  }
  const HostLayer& host = *host_by_key.at(problem->host);
  Origins host_origins = origins;
  for (const auto& [name, where] : host.set) host_origins[name] = where;
  return absl::InvalidArgumentError(absl::StrCat("host ", host.pool_key, " (", host.origin,
                                                 "): ", message,
                                                 OriginNote(host_origins, message)));
}

}  // namespace fetchpool
