#include "tests/origin/test_origin.h"

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace fetchpool::testing {
namespace {

constexpr int kListenBacklog = 4096;
constexpr size_t kReadBlock = 16 * 1024;
constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxChunkLineBytes = 4096;
constexpr uint64_t kMaxBodyBytes = uint64_t{64} << 20;
// The accept thread wakes this often to join finished connection threads
// even when no new connection arrives.
constexpr absl::Duration kReapInterval = absl::Milliseconds(100);
// An RST discards whatever the kernel has not yet sent, so /reset_mid_body
// waits (this long at most) for its prefix to be acknowledged first.
constexpr absl::Duration kDrainBeforeResetLimit = absl::Seconds(1);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;
  std::string path;
  HeaderList query;  // percent-decoded
  int minor_version = 1;
  HeaderList headers;  // names as the client spelled them
  std::string body;
};

enum class Io { kOk, kEof, kTimeout, kStopping, kError };

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  // Round up: rounding down would spin on sub-millisecond remainders.
  const int64_t ms =
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

// Waits for `events` on fd (ignored when fd < 0) until the deadline, giving
// up as soon as the stop descriptor fires. Errors and hang-ups count as
// ready: the following read or write reports them.
Io WaitFor(int fd, short events, int stop_fd, absl::Time deadline) {
  for (;;) {
    pollfd fds[2] = {{stop_fd, POLLIN, 0}, {fd, events, 0}};
    const int rc = poll(fds, 2, PollTimeoutMs(deadline));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Io::kError;
    }
    if (fds[0].revents != 0) return Io::kStopping;
    if (rc > 0) return Io::kOk;
    if (absl::Now() >= deadline) return Io::kTimeout;
  }
}

// Sleeps for d; false if the origin began stopping meanwhile.
bool PauseUnlessStopping(int stop_fd, absl::Duration d) {
  return WaitFor(-1, 0, stop_fd, absl::Now() + d) == Io::kTimeout;
}

// The comma-separated tokens of every header called `name`, in order.
std::vector<std::string> HeaderTokens(const HeaderList& headers,
                                      absl::string_view name) {
  std::vector<std::string> tokens;
  for (const auto& [header_name, value] : headers) {
    if (!absl::EqualsIgnoreCase(header_name, name)) continue;
    for (absl::string_view token : absl::StrSplit(value, ',')) {
      token = absl::StripAsciiWhitespace(token);
      if (!token.empty()) tokens.push_back(absl::AsciiStrToLower(token));
    }
  }
  return tokens;
}

bool HasToken(const HeaderList& headers, absl::string_view name,
              absl::string_view token) {
  const std::vector<std::string> tokens = HeaderTokens(headers, name);
  return std::find(tokens.begin(), tokens.end(), token) != tokens.end();
}

bool WantsKeepAlive(const Request& req) {
  if (HasToken(req.headers, "connection", "close")) return false;
  if (req.minor_version == 0) {
    return HasToken(req.headers, "connection", "keep-alive");
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict: no sign, no "0x", at most 15 digits so it cannot overflow.
bool ParseHex(absl::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 15) return false;
  uint64_t value = 0;
  for (char c : text) {
    const int digit = HexDigit(c);
    if (digit < 0) return false;
    value = value * 16 + static_cast<uint64_t>(digit);
  }
  *out = value;
  return true;
}

// Decodes %XX escapes only: '+' stays '+', so a URL passed in ?to= survives.
std::string PercentDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = HexDigit(in[i + 1]);
      const int lo = HexDigit(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

HeaderList ParseQuery(absl::string_view query) {
  HeaderList params;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      params.emplace_back(PercentDecode(part), "");
    } else {
      params.emplace_back(PercentDecode(part.substr(0, eq)),
                          PercentDecode(part.substr(eq + 1)));
    }
  }
  return params;
}

const std::string* FindParam(const Request& req, absl::string_view name) {
  for (const auto& [param, value] : req.query) {
    if (param == name) return &value;
  }
  return nullptr;
}

// A non-negative integer parameter, or `fallback` when absent. False when
// present but not such a number, so a typo gets a 400 instead of a default.
bool IntParam(const Request& req, absl::string_view name, int64_t fallback,
              int64_t* out) {
  const std::string* text = FindParam(req, name);
  if (text == nullptr) {
    *out = fallback;
    return true;
  }
  return absl::SimpleAtoi(*text, out) && *out >= 0;
}

// Parses the request line and header fields; returns 0 or the error status.
int ParseHead(absl::string_view head, Request* req) {
  const std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  const std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) return 400;
  if (parts[2] == "HTTP/1.1") {
    req->minor_version = 1;
  } else if (parts[2] == "HTTP/1.0") {
    req->minor_version = 0;
  } else {
    return absl::StartsWith(parts[2], "HTTP/") ? 505 : 400;
  }
  req->method = std::string(parts[0]);

  absl::string_view target = parts[1];
  if (absl::StartsWithIgnoreCase(target, "http://")) {  // absolute-form
    const size_t slash = target.find('/', 7);
    target = slash == absl::string_view::npos ? "/" : target.substr(slash);
  }
  if (target[0] != '/') return 400;
  const size_t question = target.find('?');
  req->path = std::string(target.substr(0, question));
  if (question != absl::string_view::npos) {
    req->query = ParseQuery(target.substr(question + 1));
  }

  for (size_t i = 1; i < lines.size(); ++i) {
    const absl::string_view line = lines[i];
    // Obsolete line folding is rejected, as RFC 9112 allows.
    if (line.empty() || line[0] == ' ' || line[0] == '\t') return 400;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) return 400;
    const absl::string_view name = line.substr(0, colon);
    if (name.find_first_of(" \t") != absl::string_view::npos) return 400;
    req->headers.emplace_back(
        std::string(name),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return 0;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

bool BodyForbidden(int status) { return status == 204 || status == 304; }

absl::Status ErrnoStatus(absl::string_view what) {
  return absl::ErrnoToStatus(errno, what);
}

}  // namespace

// Serves one TCP connection: the keep-alive loop, the routes, and the close.
class TestOrigin::Connection {
 public:
  Connection(TestOrigin* origin, int fd, uint64_t id)
      : origin_(origin), options_(origin->options_), fd_(fd), id_(id) {}

  // Returns once the connection is closed.
  void Serve();

 private:
  enum class ReadResult { kOk, kIdle, kPeerGone, kStopping, kMalformed };
  enum class Ending { kKeepOpen, kClose, kReset };
  enum class Framing { kLength, kChunked, kNone };

  // Reading.
  Io ReadMore(absl::Time deadline);
  ReadResult Fill(size_t n);
  ReadResult FillLine(size_t* eol);
  ReadResult ReadRequest(Request* req);
  ReadResult ReadHead(Request* req);
  ReadResult ReadBody(Request* req);
  ReadResult ReadChunkedBody(std::string* body);
  void MaybeSendContinue(const Request& req);
  ReadResult Malformed(int status);
  static ReadResult FromIo(Io io);

  // Writing.
  bool SendAll(absl::string_view data);
  std::string FormatHead(int status, const HeaderList& headers,
                         Framing framing, uint64_t length) const;
  bool SendHead(int status, const HeaderList& headers, Framing framing,
                uint64_t length);
  bool SendFiller(uint64_t n);
  bool SendChunkedFiller(uint64_t n, uint64_t chunk);
  Ending Respond(int status, const HeaderList& headers,
                 absl::string_view body);
  bool Pause(absl::Duration d);
  void DrainSendQueue();
  void Close(bool reset);

  // Routes.
  Ending Handle(const Request& req);
  Ending Route(const Request& req);
  Ending Echo(const Request& req);
  Ending Status(absl::string_view code_text);
  Ending Sleep(const Request& req);
  Ending Bytes(const Request& req);
  Ending Chunked(const Request& req);
  Ending SlowBody(const Request& req);
  Ending CutShort(const Request& req, Ending ending);
  Ending CloseAfterResponse();
  Ending KeepAliveHint(const Request& req);
  Ending Redirect(const Request& req);
  Ending BadParameter(absl::string_view name);
  // Hostile origins and redirect hygiene (issue 11).
  Ending Dump(const Request& req);
  Ending ManyHeaders(const Request& req);
  Ending Interim(const Request& req);
  // Counting requests per key (client retry tests, issue 12).
  Ending Count(const Request& req);
  Ending Hits(const Request& req);

  TestOrigin* const origin_;
  const Options& options_;
  const int fd_;
  const uint64_t id_;

  std::string buf_;
  size_t pos_ = 0;           // first unparsed byte of buf_
  bool peer_gone_ = false;   // saw the client's EOF or a socket error
  int error_status_ = 0;     // status for a kMalformed request
  int64_t requests_ = 0;     // requests read on this connection

  // Per response.
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_only_ = false;
  int64_t keep_alive_timeout_ = -1;  // Keep-Alive: timeout=N when >= 0
};

void TestOrigin::Connection::Serve() {
  Ending ending = Ending::kClose;
  for (;;) {
    Request req;
    const ReadResult read = ReadRequest(&req);
    if (read == ReadResult::kMalformed) {
      keep_alive_ = false;
      head_only_ = false;
      Respond(error_status_, {}, ReasonPhrase(error_status_));
      break;
    }
    if (read != ReadResult::kOk) break;
    ending = Handle(req);
    if (ending != Ending::kKeepOpen || !keep_alive_) break;
  }
  Close(ending == Ending::kReset);
}

Io TestOrigin::Connection::ReadMore(absl::Time deadline) {
  for (;;) {
    if (origin_->stopping_.load(std::memory_order_relaxed)) {
      return Io::kStopping;
    }
    char block[kReadBlock];
    const ssize_t n = recv(fd_, block, sizeof block, 0);
    if (n > 0) {
      buf_.append(block, static_cast<size_t>(n));
      return Io::kOk;
    }
    if (n == 0) {
      peer_gone_ = true;
      return Io::kEof;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      peer_gone_ = true;
      return Io::kError;
    }
    const Io ready = WaitFor(fd_, POLLIN, origin_->stop_fd_, deadline);
    if (ready != Io::kOk) return ready;
  }
}

TestOrigin::Connection::ReadResult TestOrigin::Connection::FromIo(Io io) {
  switch (io) {
    case Io::kOk: return ReadResult::kOk;
    case Io::kTimeout: return ReadResult::kIdle;
    case Io::kStopping: return ReadResult::kStopping;
    case Io::kEof:
    case Io::kError: break;
  }
  return ReadResult::kPeerGone;
}

TestOrigin::Connection::ReadResult TestOrigin::Connection::Malformed(
    int status) {
  error_status_ = status;
  return ReadResult::kMalformed;
}

TestOrigin::Connection::ReadResult TestOrigin::Connection::Fill(size_t n) {
  while (buf_.size() - pos_ < n) {
    const Io io = ReadMore(absl::InfiniteFuture());
    if (io != Io::kOk) return FromIo(io);
  }
  return ReadResult::kOk;
}

TestOrigin::Connection::ReadResult TestOrigin::Connection::FillLine(
    size_t* eol) {
  for (;;) {
    *eol = buf_.find("\r\n", pos_);
    if (*eol != std::string::npos) return ReadResult::kOk;
    if (buf_.size() - pos_ > kMaxChunkLineBytes) return Malformed(400);
    const Io io = ReadMore(absl::InfiniteFuture());
    if (io != Io::kOk) return FromIo(io);
  }
}

TestOrigin::Connection::ReadResult TestOrigin::Connection::ReadRequest(
    Request* req) {
  // Drop the previous request so the buffer never grows with the connection.
  buf_.erase(0, pos_);
  pos_ = 0;
  const ReadResult head = ReadHead(req);
  if (head != ReadResult::kOk) return head;
  return ReadBody(req);
}

TestOrigin::Connection::ReadResult TestOrigin::Connection::ReadHead(
    Request* req) {
  for (;;) {
    // RFC 9112: ignore empty lines received before a request line.
    while (buf_.compare(pos_, 2, "\r\n") == 0) pos_ += 2;
    const size_t end = buf_.find("\r\n\r\n", pos_);
    if (end != std::string::npos) {
      const int status =
          ParseHead(absl::string_view(buf_).substr(pos_, end - pos_), req);
      pos_ = end + 4;
      return status == 0 ? ReadResult::kOk : Malformed(status);
    }
    if (buf_.size() - pos_ > kMaxHeadBytes) return Malformed(431);
    // Only a connection with nothing pending is idle; a half-sent request
    // is waited for until the client or Stop() ends it.
    const bool idle = pos_ == buf_.size();
    const absl::Time deadline =
        idle && options_.idle_close_after > absl::ZeroDuration()
            ? absl::Now() + options_.idle_close_after
            : absl::InfiniteFuture();
    const Io io = ReadMore(deadline);
    if (io != Io::kOk) return FromIo(io);
  }
}

TestOrigin::Connection::ReadResult TestOrigin::Connection::ReadBody(
    Request* req) {
  const std::vector<std::string> codings =
      HeaderTokens(req->headers, "transfer-encoding");
  if (!codings.empty()) {
    // Transfer-Encoding overrides Content-Length; in a request the final
    // coding must be chunked or the body length is unknowable.
    if (codings.back() != "chunked") return Malformed(400);
    MaybeSendContinue(*req);
    return ReadChunkedBody(&req->body);
  }
  const std::vector<std::string> lengths =
      HeaderTokens(req->headers, "content-length");
  if (lengths.empty()) return ReadResult::kOk;
  uint64_t length = 0;
  for (const std::string& text : lengths) {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(text, &value)) return Malformed(400);
    if (&text != &lengths.front() && value != length) return Malformed(400);
    length = value;
  }
  if (length > kMaxBodyBytes) return Malformed(413);
  if (length == 0) return ReadResult::kOk;
  MaybeSendContinue(*req);
  const ReadResult filled = Fill(length);
  if (filled != ReadResult::kOk) return filled;
  req->body.assign(buf_, pos_, length);
  pos_ += length;
  return ReadResult::kOk;
}

// Clients that sent Expect: 100-continue wait (curl: 1 s) for this before
// sending the body; skip it when the body is already arriving.
void TestOrigin::Connection::MaybeSendContinue(const Request& req) {
  if (req.minor_version == 1 && pos_ == buf_.size() &&
      HasToken(req.headers, "expect", "100-continue")) {
    SendAll("HTTP/1.1 100 Continue\r\n\r\n");
  }
}

TestOrigin::Connection::ReadResult TestOrigin::Connection::ReadChunkedBody(
    std::string* body) {
  for (;;) {
    size_t eol = 0;
    ReadResult line = FillLine(&eol);
    if (line != ReadResult::kOk) return line;
    absl::string_view size_text(buf_.data() + pos_, eol - pos_);
    size_text = absl::StripAsciiWhitespace(
        size_text.substr(0, size_text.find(';')));  // drop chunk extensions
    uint64_t size = 0;
    if (!ParseHex(size_text, &size)) return Malformed(400);
    pos_ = eol + 2;
    if (size == 0) break;
    if (body->size() + size > kMaxBodyBytes) return Malformed(413);
    const ReadResult filled = Fill(size + 2);
    if (filled != ReadResult::kOk) return filled;
    if (buf_.compare(pos_ + size, 2, "\r\n") != 0) return Malformed(400);
    body->append(buf_, pos_, size);
    pos_ += size + 2;
  }
  // Trailer fields, ignored, up to the empty line.
  for (;;) {
    size_t eol = 0;
    ReadResult line = FillLine(&eol);
    if (line != ReadResult::kOk) return line;
    const bool last = eol == pos_;
    pos_ = eol + 2;
    if (last) return ReadResult::kOk;
  }
}

bool TestOrigin::Connection::SendAll(absl::string_view data) {
  while (!data.empty()) {
    if (origin_->stopping_.load(std::memory_order_relaxed)) return false;
    const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const Io ready = WaitFor(fd_, POLLOUT, origin_->stop_fd_,
                               absl::InfiniteFuture());
      if (ready != Io::kOk) return false;
      continue;
    }
    peer_gone_ = true;
    return false;
  }
  return true;
}

std::string TestOrigin::Connection::FormatHead(int status,
                                               const HeaderList& headers,
                                               Framing framing,
                                               uint64_t length) const {
  std::string head =
      absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\n");
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&head, "X-Connection-Id: ", id_,
                  "\r\nX-Request-On-Connection: ", requests_, "\r\n");
  switch (framing) {
    case Framing::kLength:
      absl::StrAppend(&head, "Content-Length: ", length, "\r\n");
      break;
    case Framing::kChunked:
      absl::StrAppend(&head, "Transfer-Encoding: chunked\r\n");
      break;
    case Framing::kNone:
      break;
  }
  if (keep_alive_timeout_ >= 0) {
    absl::StrAppend(&head, "Keep-Alive: timeout=", keep_alive_timeout_,
                    "\r\n");
  }
  if (!keep_alive_) {
    absl::StrAppend(&head, "Connection: close\r\n");
  } else if (http10_) {
    absl::StrAppend(&head, "Connection: keep-alive\r\n");
  }
  absl::StrAppend(&head, "\r\n");
  return head;
}

bool TestOrigin::Connection::SendHead(int status, const HeaderList& headers,
                                      Framing framing, uint64_t length) {
  return SendAll(FormatHead(status, headers, framing, length));
}

bool TestOrigin::Connection::SendFiller(uint64_t n) {
  if (head_only_) return true;
  static const std::string* const kFiller = new std::string(64 * 1024, 'x');
  while (n > 0) {
    const uint64_t part = std::min<uint64_t>(n, kFiller->size());
    if (!SendAll(absl::string_view(kFiller->data(), part))) return false;
    n -= part;
  }
  return true;
}

bool TestOrigin::Connection::SendChunkedFiller(uint64_t n, uint64_t chunk) {
  if (head_only_) return true;
  while (n > 0) {
    const uint64_t part = std::min(n, chunk);
    if (!SendAll(absl::StrCat(absl::Hex(part), "\r\n")) ||
        !SendFiller(part) || !SendAll("\r\n")) {
      return false;
    }
    n -= part;
  }
  return SendAll("0\r\n\r\n");
}

// A complete response in one write, so head and body share a segment.
TestOrigin::Connection::Ending TestOrigin::Connection::Respond(
    int status, const HeaderList& headers, absl::string_view body) {
  const Framing framing =
      BodyForbidden(status) ? Framing::kNone : Framing::kLength;
  std::string out = FormatHead(status, headers, framing, body.size());
  if (framing == Framing::kLength && !head_only_) {
    out.append(body.data(), body.size());
  }
  return SendAll(out) ? Ending::kKeepOpen : Ending::kClose;
}

bool TestOrigin::Connection::Pause(absl::Duration d) {
  return PauseUnlessStopping(origin_->stop_fd_, d);
}

void TestOrigin::Connection::DrainSendQueue() {
  const absl::Time deadline = absl::Now() + kDrainBeforeResetLimit;
  while (absl::Now() < deadline) {
    int unacknowledged = 0;
    if (ioctl(fd_, SIOCOUTQ, &unacknowledged) != 0 || unacknowledged == 0) {
      return;
    }
    if (!Pause(absl::Milliseconds(1))) return;
  }
}

void TestOrigin::Connection::Close(bool reset) {
  if (reset) {
    // A zero linger time turns close() into an RST.
    const linger abort_on_close = {1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close,
               sizeof abort_on_close);
  }
  // Counters change before close() so a client that has seen the FIN or RST
  // also sees them.
  if (!peer_gone_) {
    origin_->connections_closed_by_server_.fetch_add(1);
  }
  origin_->open_connections_.fetch_sub(1);
  close(fd_);
}

TestOrigin::Connection::Ending TestOrigin::Connection::Handle(
    const Request& req) {
  ++requests_;
  origin_->requests_served_.fetch_add(1);
  http10_ = req.minor_version == 0;
  head_only_ = req.method == "HEAD";
  keep_alive_timeout_ = options_.keep_alive_hint_seconds > 0
                            ? options_.keep_alive_hint_seconds
                            : -1;
  const bool last_allowed = options_.max_requests_per_connection > 0 &&
                            requests_ >= options_.max_requests_per_connection;
  keep_alive_ = WantsKeepAlive(req) && !last_allowed;
  if (options_.response_delay > absl::ZeroDuration() &&
      !Pause(options_.response_delay)) {
    return Ending::kClose;
  }
  return Route(req);
}

TestOrigin::Connection::Ending TestOrigin::Connection::Route(
    const Request& req) {
  const absl::string_view path = req.path;
  if (path == "/echo") return Echo(req);
  if (absl::StartsWith(path, "/status/")) {
    return Status(path.substr(strlen("/status/")));
  }
  if (path == "/sleep") return Sleep(req);
  if (path == "/bytes") return Bytes(req);
  if (path == "/chunked") return Chunked(req);
  if (path == "/slowbody") return SlowBody(req);
  if (path == "/truncate") return CutShort(req, Ending::kClose);
  if (path == "/reset") return Ending::kReset;
  if (path == "/reset_mid_body") return CutShort(req, Ending::kReset);
  if (path == "/close") return CloseAfterResponse();
  if (path == "/keepalive") return KeepAliveHint(req);
  if (path == "/redirect") return Redirect(req);
  if (path == "/dump") return Dump(req);
  if (path == "/many_headers") return ManyHeaders(req);
  if (path == "/interim") return Interim(req);
  if (path == "/count") return Count(req);
  if (path == "/hits") return Hits(req);
  return Respond(404, {}, "not found");
}

TestOrigin::Connection::Ending TestOrigin::Connection::BadParameter(
    absl::string_view name) {
  return Respond(400, {}, absl::StrCat("bad parameter ", name));
}

TestOrigin::Connection::Ending TestOrigin::Connection::Echo(
    const Request& req) {
  HeaderList headers = {{"X-Method", req.method}};
  for (const auto& [name, value] : req.headers) {
    if (absl::StartsWithIgnoreCase(name, "x-")) {
      headers.emplace_back(absl::StrCat("X-Echo-", name), value);
    }
  }
  return Respond(200, headers, req.body);
}

TestOrigin::Connection::Ending TestOrigin::Connection::Status(
    absl::string_view code_text) {
  int code = 0;
  // 1xx are interim responses, not something a route can end with.
  if (!absl::SimpleAtoi(code_text, &code) || code < 200 || code > 599) {
    return BadParameter("status code");
  }
  return Respond(code, {}, absl::StrCat("status ", code));
}

TestOrigin::Connection::Ending TestOrigin::Connection::Sleep(
    const Request& req) {
  int64_t ms = 0;
  if (!IntParam(req, "ms", 0, &ms)) return BadParameter("ms");
  if (!Pause(absl::Milliseconds(ms))) return Ending::kClose;
  return Respond(200, {}, "slept");
}

TestOrigin::Connection::Ending TestOrigin::Connection::Count(
    const Request& req) {
  const std::string* key = FindParam(req, "key");
  if (key == nullptr || key->empty()) return BadParameter("key");
  int64_t ms = 0;
  if (!IntParam(req, "ms", 0, &ms)) return BadParameter("ms");
  {
    std::lock_guard<std::mutex> lock(origin_->hits_mu_);
    ++origin_->hits_[*key];
  }
  if (!Pause(absl::Milliseconds(ms))) return Ending::kClose;
  return Respond(200, {}, "counted");
}

TestOrigin::Connection::Ending TestOrigin::Connection::Hits(
    const Request& req) {
  const std::string* key = FindParam(req, "key");
  if (key == nullptr || key->empty()) return BadParameter("key");
  return Respond(200, {}, absl::StrCat(origin_->hits(*key)));
}

TestOrigin::Connection::Ending TestOrigin::Connection::Bytes(
    const Request& req) {
  int64_t n = 0;
  if (!IntParam(req, "n", 0, &n)) return BadParameter("n");
  const uint64_t size = static_cast<uint64_t>(n);
  if (!SendHead(200, {}, Framing::kLength, size) || !SendFiller(size)) {
    return Ending::kClose;
  }
  return Ending::kKeepOpen;
}

TestOrigin::Connection::Ending TestOrigin::Connection::Chunked(
    const Request& req) {
  int64_t n = 0;
  int64_t chunk = 0;
  if (!IntParam(req, "n", 0, &n)) return BadParameter("n");
  if (!IntParam(req, "chunk", 1024, &chunk) || chunk == 0) {
    return BadParameter("chunk");
  }
  if (!SendHead(200, {}, Framing::kChunked, 0) ||
      !SendChunkedFiller(static_cast<uint64_t>(n),
                         static_cast<uint64_t>(chunk))) {
    return Ending::kClose;
  }
  return Ending::kKeepOpen;
}

TestOrigin::Connection::Ending TestOrigin::Connection::SlowBody(
    const Request& req) {
  int64_t n = 0;
  int64_t interval_ms = 0;
  int64_t chunk = 0;
  if (!IntParam(req, "n", 0, &n)) return BadParameter("n");
  if (!IntParam(req, "interval_ms", 100, &interval_ms)) {
    return BadParameter("interval_ms");
  }
  if (!IntParam(req, "chunk", 1, &chunk) || chunk == 0) {
    return BadParameter("chunk");
  }
  uint64_t left = static_cast<uint64_t>(n);
  if (!SendHead(200, {}, Framing::kLength, left)) return Ending::kClose;
  // The head goes out at once; each part of the body waits its interval, so
  // the client sees a fast first byte and then a trickle.
  while (left > 0 && !head_only_) {
    const uint64_t part = std::min(left, static_cast<uint64_t>(chunk));
    if (!Pause(absl::Milliseconds(interval_ms)) || !SendFiller(part)) {
      return Ending::kClose;
    }
    left -= part;
  }
  return Ending::kKeepOpen;
}

// /truncate and /reset_mid_body: promise a length, send less, then end the
// connection as `ending` says. The head does not announce the close, as a
// crashing origin would not.
TestOrigin::Connection::Ending TestOrigin::Connection::CutShort(
    const Request& req, Ending ending) {
  int64_t promise = 0;
  int64_t send = 0;
  if (!IntParam(req, "promise", 100, &promise)) return BadParameter("promise");
  if (!IntParam(req, "send", promise / 2, &send) || send >= promise) {
    return BadParameter("send (must be less than promise)");
  }
  if (!SendHead(200, {}, Framing::kLength, static_cast<uint64_t>(promise)) ||
      !SendFiller(static_cast<uint64_t>(send))) {
    return Ending::kClose;
  }
  if (ending == Ending::kReset) DrainSendQueue();
  return ending;
}

TestOrigin::Connection::Ending TestOrigin::Connection::CloseAfterResponse() {
  keep_alive_ = false;
  Respond(200, {}, "closing");
  return Ending::kClose;
}

TestOrigin::Connection::Ending TestOrigin::Connection::KeepAliveHint(
    const Request& req) {
  int64_t timeout = 0;
  if (!IntParam(req, "timeout", 5, &timeout)) return BadParameter("timeout");
  keep_alive_timeout_ = timeout;
  return Respond(200, {}, "keepalive");
}

TestOrigin::Connection::Ending TestOrigin::Connection::Redirect(
    const Request& req) {
  const std::string* to = FindParam(req, "to");
  if (to == nullptr || to->empty()) return BadParameter("to");
  int64_t code = 0;
  if (!IntParam(req, "code", 302, &code) || code < 300 || code > 399) {
    return BadParameter("code");
  }
  return Respond(static_cast<int>(code), {{"Location", *to}}, "redirect");
}

TestOrigin::Connection::Ending TestOrigin::Connection::Dump(
    const Request& req) {
  std::string out = absl::StrCat(req.method, "\n");
  for (const auto& [name, value] : req.headers) {
    absl::StrAppend(&out, name, ": ", value, "\n");
  }
  absl::StrAppend(&out, "\n", req.body);
  return Respond(200, {}, out);
}

TestOrigin::Connection::Ending TestOrigin::Connection::ManyHeaders(
    const Request& req) {
  int64_t n = 0;
  int64_t size = 0;
  if (!IntParam(req, "n", 0, &n) || n > 100000) return BadParameter("n");
  if (!IntParam(req, "size", 1, &size) || size > (int64_t{16} << 20)) {
    return BadParameter("size");
  }
  HeaderList headers;
  const std::string value(static_cast<size_t>(size), 'h');
  for (int64_t i = 0; i < n; ++i) {
    headers.emplace_back(absl::StrCat("X-Pad-", i), value);
  }
  return Respond(200, headers, "many headers");
}

TestOrigin::Connection::Ending TestOrigin::Connection::Interim(
    const Request& req) {
  int64_t n = 0;
  int64_t per = 0;
  if (!IntParam(req, "n", 1, &n) || n > 100000) return BadParameter("n");
  if (!IntParam(req, "headers", 1, &per) || per > 100000) {
    return BadParameter("headers");
  }
  for (int64_t i = 0; i < n; ++i) {
    std::string hint = "HTTP/1.1 103 Early Hints\r\n";
    for (int64_t h = 0; h < per; ++h) {
      absl::StrAppend(&hint, "Link: </s", i, "-", h, ".css>; rel=preload\r\n");
    }
    absl::StrAppend(&hint, "\r\n");
    if (!SendAll(hint)) return Ending::kClose;
  }
  return Respond(200, {}, "after hints");
}

TestOrigin::TestOrigin() : TestOrigin(Options()) {}

TestOrigin::TestOrigin(Options options) : options_(std::move(options)) {}

TestOrigin::~TestOrigin() { Stop(); }

absl::Status TestOrigin::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_) {
    return absl::FailedPreconditionError("TestOrigin::Start called twice");
  }
  if (options_.port < 0 || options_.port > 65535 ||
      options_.idle_close_after < absl::ZeroDuration() ||
      options_.response_delay < absl::ZeroDuration() ||
      options_.keep_alive_hint_seconds < 0 ||
      options_.max_requests_per_connection < 0) {
    return absl::InvalidArgumentError(
        "TestOrigin: negative or out-of-range option");
  }
  started_ = true;

  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) return ErrnoStatus("eventfd");
  // sockaddr_storage holds either family; the port sits at the same place
  // in sockaddr_in and sockaddr_in6.
  sockaddr_storage addr = {};
  socklen_t addr_len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  const char* bind_text = options_.bind_address.c_str();
  if (inet_pton(AF_INET, bind_text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(options_.port));
    addr_len = sizeof *v4;
  } else if (inet_pton(AF_INET6, bind_text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(options_.port));
    addr_len = sizeof *v6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "bind_address \"", options_.bind_address, "\" is not an IP address"));
  }
  listen_fd_ = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return ErrnoStatus("socket");
  // A fixed port (the binary's --port) can then be reused right after a
  // previous run, whose connections may still sit in TIME_WAIT.
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr.ss_family == AF_INET6) {
    // Only the address asked for, not IPv4-mapped ones as well.
    setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    return ErrnoStatus(absl::StrCat("bind ", options_.bind_address, ":", options_.port));
  }
  if (listen(listen_fd_, kListenBacklog) != 0) return ErrnoStatus("listen");
  socklen_t len = sizeof addr;
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus("getsockname");
  }
  port_ = ntohs(addr.ss_family == AF_INET6 ? v6->sin6_port : v4->sin_port);
  accept_thread_ = std::thread(&TestOrigin::AcceptLoop, this);
  running_ = true;
  return absl::OkStatus();
}

void TestOrigin::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (running_) {
    running_ = false;
    stopping_.store(true);
    // The eventfd stays readable from here on, waking every poll at once.
    eventfd_write(stop_fd_, 1);
    accept_thread_.join();
    // No thread is added after the accept thread has ended.
    std::map<uint64_t, std::thread> threads;
    {
      std::lock_guard<std::mutex> threads_lock(threads_mu_);
      threads.swap(threads_);
    }
    for (auto& [id, thread] : threads) thread.join();
    std::lock_guard<std::mutex> threads_lock(threads_mu_);
    finished_.clear();
  }
  // Also reached after a failed Start(), which may leave descriptors open.
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
  listen_fd_ = -1;
  stop_fd_ = -1;
}

std::string TestOrigin::base_url() const {
  if (absl::StrContains(options_.bind_address, ':')) {
    return absl::StrCat("http://[", options_.bind_address, "]:", port_);
  }
  return absl::StrCat("http://", options_.bind_address, ":", port_);
}

int64_t TestOrigin::hits(const std::string& key) const {
  std::lock_guard<std::mutex> lock(hits_mu_);
  const auto it = hits_.find(key);
  return it == hits_.end() ? 0 : it->second;
}

void TestOrigin::ResetCounters() {
  connections_accepted_.store(0);
  requests_served_.store(0);
  connections_closed_by_server_.store(0);
}

size_t TestOrigin::connection_threads() const {
  std::lock_guard<std::mutex> lock(threads_mu_);
  return threads_.size();
}

void TestOrigin::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    const int rc = poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(
                                    kReapInterval)));
    ReapFinishedThreads();
    if (rc < 0 && errno != EINTR) return;
    if (rc <= 0) continue;
    if (fds[0].revents != 0) return;
    AcceptPending();
  }
}

void TestOrigin::AcceptPending() {
  for (;;) {
    const int fd =
        accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      SpawnConnection(fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
        errno == ENOMEM) {
      // Out of descriptors: back off instead of spinning on a listener that
      // stays readable; finished connections will free some.
      PauseUnlessStopping(stop_fd_, absl::Milliseconds(10));
    }
    return;  // EAGAIN: the backlog is empty.
  }
}

void TestOrigin::SpawnConnection(int fd) {
  // Responses are often written in pieces (head, then body); without
  // NODELAY, Nagle plus delayed ACKs would add 40 ms stalls.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const uint64_t id = next_connection_id_++;
  connections_accepted_.fetch_add(1);
  open_connections_.fetch_add(1);
  // The lock is held across thread creation so the thread cannot report
  // itself finished before it is in threads_.
  std::lock_guard<std::mutex> lock(threads_mu_);
  try {
    threads_.emplace(id,
                     std::thread(&TestOrigin::ServeConnection, this, fd, id));
  } catch (const std::system_error&) {
    // Out of threads: refuse this client rather than take the origin down.
    connections_closed_by_server_.fetch_add(1);
    open_connections_.fetch_sub(1);
    close(fd);
  }
}

void TestOrigin::ServeConnection(int fd, uint64_t id) {
  Connection(this, fd, id).Serve();
  std::lock_guard<std::mutex> lock(threads_mu_);
  finished_.push_back(id);
}

void TestOrigin::ReapFinishedThreads() {
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(threads_mu_);
    for (uint64_t id : finished_) {
      auto it = threads_.find(id);
      if (it == threads_.end()) continue;
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    finished_.clear();
  }
  // Outside the lock: each thread still has to take it once to finish.
  for (std::thread& thread : done) thread.join();
}

}  // namespace fetchpool::testing
