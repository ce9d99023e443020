#ifndef FETCHPOOL_TESTS_INTEGRATION_TLS_TEST_ENV_H_
#define FETCHPOOL_TESTS_INTEGRATION_TLS_TEST_ENV_H_

// HTTPS origins on loopback for the TLS tests: certificates made at test
// time with the openssl command (a CA; a good server certificate for
// 127.0.0.1/localhost; a self-signed one; one for the wrong name; an
// expired one; a client certificate) and one nginx child serving each
// kind of origin on a port of its own.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fetchpool::testing {

// The kinds of origin, one nginx server block (and port) each.
enum class TlsOrigin {
  kGood,          // CA-signed for 127.0.0.1 and localhost; keepalive_requests 2
  kSelfSigned,    // self-signed for 127.0.0.1
  kWrongName,     // CA-signed for wrong.example only
  kExpired,       // CA-signed, valid 2020-01-01 .. 2021-01-01
  kTls10Only,     // good certificate, TLS 1.0 only
  kClientCert,    // good certificate, requires a client certificate from the CA
  kH2,            // good certificate, HTTP/2 and HTTP/1.1 by ALPN
  kH2c,           // cleartext HTTP/2 by prior knowledge only (http://)
  // h2 like kH2, but GOAWAY after every 10 requests on a connection
  // (keepalive_requests 10), and an access log (AccessLog()).
  kH2GoAway,
  // Plain HTTP/1.1 "ok\n": the backend kH2GoAway proxies its POSTs to.
  kPlainBackend,
  // h2 like kH2, but SETTINGS_MAX_CONCURRENT_STREAMS 8.
  kH2FewStreams,
};

class TlsTestEnv {
 public:
  // Makes the certificates and starts nginx; false (and a message on
  // stderr) if openssl or nginx is missing or fails.
  bool Start() {
    char pattern[] = "/tmp/fetchpool-tls-XXXXXX";
    if (mkdtemp(pattern) == nullptr) return Fail("mkdtemp");
    dir_ = pattern;
    if (!MakeCertificates()) return false;
    for (TlsOrigin kind : {TlsOrigin::kGood, TlsOrigin::kSelfSigned, TlsOrigin::kWrongName,
                           TlsOrigin::kExpired, TlsOrigin::kTls10Only, TlsOrigin::kClientCert,
                           TlsOrigin::kH2, TlsOrigin::kH2c, TlsOrigin::kH2GoAway,
                           TlsOrigin::kPlainBackend, TlsOrigin::kH2FewStreams}) {
      ports_[kind] = FreePort();
    }
    return StartNginx();
  }

  void Stop() {
    if (nginx_pid_ > 0) {
      kill(nginx_pid_, SIGTERM);  // the nginx master we started; it stops its worker
      int status = 0;
      waitpid(nginx_pid_, &status, 0);
      nginx_pid_ = -1;
    }
    if (!dir_.empty()) Run(absl::StrCat("rm -rf '", dir_, "'"));
  }

  int port(TlsOrigin kind) const { return ports_.at(kind); }
  std::string Url(TlsOrigin kind, const std::string& path = "/") const {
    return absl::StrCat(PoolKey(kind), path);
  }
  std::string PoolKey(TlsOrigin kind) const {
    const bool plain = kind == TlsOrigin::kH2c || kind == TlsOrigin::kPlainBackend;
    return absl::StrCat(plain ? "http" : "https", "://127.0.0.1:", port(kind));
  }
  std::string File(const std::string& name) const { return absl::StrCat(dir_, "/", name); }
  // What nginx logged for kH2GoAway: one line per request it processed
  // ("... \"POST /p/7 HTTP/2.0\" 200 ..."); nginx writes each line as
  // the request ends.
  std::string AccessLog() const {
    std::ifstream in(File("goaway-access.log"));
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string& dir() const { return dir_; }

 private:
  static bool Fail(const std::string& what) {
    std::fprintf(stderr, "TLS test environment: %s failed\n", what.c_str());
    return false;
  }
  bool Run(const std::string& command) const {
    return std::system(absl::StrCat(command, " >/dev/null 2>&1").c_str()) == 0;
  }
  bool WriteFile(const std::string& name, const std::string& text) const {
    std::ofstream out(File(name));
    out << text;
    return static_cast<bool>(out);
  }

  // A P-256 key and a CSR for `cn` with `san` (subjectAltName).
  bool KeyAndRequest(const std::string& name, const std::string& cn, const std::string& san) {
    return Run(absl::StrCat("cd '", dir_, "' && openssl req -newkey ec -pkeyopt "
                            "ec_paramgen_curve:prime256v1 -nodes -keyout ", name, ".key -out ",
                            name, ".csr -subj '/CN=", cn, "' -addext 'subjectAltName=", san,
                            "'"));
  }
  // Signs name.csr with the CA; `dates` is "-days 30" or "-startdate ... -enddate ...".
  bool Sign(const std::string& name, const std::string& dates) {
    return Run(absl::StrCat("cd '", dir_, "' && openssl ca -batch -config ca.cnf -cert ca.pem "
                            "-keyfile ca.key -notext ", dates, " -in ", name, ".csr -out ", name,
                            ".pem"));
  }

  bool MakeCertificates() {
    const std::string ca_cnf = absl::StrCat(
        "[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = ", dir_, "/index.txt\nnew_certs_dir = ", dir_,
        "\nserial = ", dir_, "/serial\nunique_subject = no\ndefault_md = sha256\npolicy = p\n",
        "copy_extensions = copy\n",
        "[ p ]\ncommonName = supplied\n");
    if (!WriteFile("ca.cnf", ca_cnf) || !WriteFile("index.txt", "") ||
        !WriteFile("serial", "01\n")) {
      return Fail("writing the CA files");
    }
    if (!Run(absl::StrCat("cd '", dir_, "' && openssl req -x509 -newkey ec -pkeyopt "
                          "ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem "
                          "-days 30 -subj '/CN=fetchpool test CA'"))) {
      return Fail("openssl req (CA)");
    }
    const std::string here = "IP:127.0.0.1,DNS:localhost";
    if (!KeyAndRequest("good", "localhost", here) || !Sign("good", "-days 30")) {
      return Fail("good certificate");
    }
    if (!KeyAndRequest("wrong", "wrong.example", "DNS:wrong.example") ||
        !Sign("wrong", "-days 30")) {
      return Fail("wrong-name certificate");
    }
    if (!KeyAndRequest("expired", "localhost", here) ||
        !Sign("expired", "-startdate 20200101000000Z -enddate 20210101000000Z")) {
      return Fail("expired certificate");
    }
    if (!KeyAndRequest("client", "fetchpool client", "DNS:client.example") ||
        !Sign("client", "-days 30")) {
      return Fail("client certificate");
    }
    if (!Run(absl::StrCat("cd '", dir_, "' && openssl req -x509 -newkey ec -pkeyopt "
                          "ec_paramgen_curve:prime256v1 -nodes -keyout self.key -out self.pem "
                          "-days 30 -subj '/CN=localhost' -addext 'subjectAltName=",
                          here, "'"))) {
      return Fail("self-signed certificate");
    }
    return true;
  }

  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

  // Every origin answers "ok\n"; /slow answers 4000 bytes at 2 KB/s (about
  // a second), so concurrent fetches overlap. (`return`, not a file: the
  // nginx worker cannot read our 0700 directory.)
  std::string Server(TlsOrigin kind, const std::string& cert, const std::string& extra) const {
    const std::string locations =
        absl::StrCat("    location /slow { limit_rate 2k; return 200 \"", std::string(4000, 'a'),
                     "\"; }\n",
                     "    location / { return 200 \"ok\\n\"; }\n  }\n");
    if (kind == TlsOrigin::kH2c) {
      return absl::StrCat("  server {\n    listen 127.0.0.1:", port(kind), " http2;\n", extra,
                          locations);
    }
    const bool h2 = kind == TlsOrigin::kH2 || kind == TlsOrigin::kH2GoAway ||
                    kind == TlsOrigin::kH2FewStreams;
    return absl::StrCat("  server {\n    listen 127.0.0.1:", port(kind),
                        h2 ? " ssl http2;\n" : " ssl;\n",
                        "    ssl_certificate ", File(cert + ".pem"), ";\n",
                        "    ssl_certificate_key ", File(cert + ".key"), ";\n", extra,
                        locations);
  }

  bool StartNginx() {
    const std::string conf = absl::StrCat(
        "worker_processes 1;\npid ", File("nginx.pid"), ";\nerror_log ", File("error.log"),
        " info;\nevents { worker_connections 256; }\nhttp {\n  access_log off;\n",
        "  client_body_temp_path ", File("body"), ";\n  proxy_temp_path ", File("proxy"), ";\n",
        "  fastcgi_temp_path ", File("fcgi"), ";\n  uwsgi_temp_path ", File("uwsgi"), ";\n",
        "  scgi_temp_path ", File("scgi"), ";\n  ssl_session_cache shared:fetchpool:1m;\n",
        // The origin's own limit: the second request on a connection is its
        // last, so a third fetch needs a new connection (and resumes).
        Server(TlsOrigin::kGood, "good", "    keepalive_requests 2;\n"),
        Server(TlsOrigin::kSelfSigned, "self", ""), Server(TlsOrigin::kWrongName, "wrong", ""),
        Server(TlsOrigin::kExpired, "expired", ""),
        // OpenSSL 3 offers TLS 1.0 only at security level 0.
        Server(TlsOrigin::kTls10Only, "good",
               "    ssl_protocols TLSv1;\n    ssl_ciphers DEFAULT@SECLEVEL=0;\n"),
        Server(TlsOrigin::kClientCert, "good",
               absl::StrCat("    ssl_client_certificate ", File("ca.pem"),
                            ";\n    ssl_verify_client on;\n")),
        Server(TlsOrigin::kH2, "good", ""), Server(TlsOrigin::kH2c, "", ""),
        // HTTP/2 GOAWAY after 10 requests: the streams above its
        // last-stream-id were never processed.
        // POSTs (/p/...) go through nginx's proxy, which reads the whole
        // request body before answering, as an application would: nginx's
        // own `return` answers at once and resets the stream whose body is
        // still coming (RST_STREAM NO_ERROR), and libcurl 7.88 then fails
        // that stream, response and all, while it is sending the body
        // ("stream N closed", CURLE_HTTP2_STREAM). See README, HTTP/2.
        Server(TlsOrigin::kH2GoAway, "good",
               absl::StrCat("    keepalive_requests 10;\n    access_log ",
                            File("goaway-access.log"), ";\n",
                            "    location /p/ { proxy_pass http://127.0.0.1:",
                            port(TlsOrigin::kPlainBackend), "/; }\n")),
        Server(TlsOrigin::kH2FewStreams, "good", "    http2_max_concurrent_streams 8;\n"),
        absl::StrCat("  server {\n    listen 127.0.0.1:", port(TlsOrigin::kPlainBackend),
                     ";\n    location / { return 200 \"ok\\n\"; }\n  }\n"),
        "}\n");
    if (!WriteFile("nginx.conf", conf)) return Fail("writing nginx.conf");
    const std::string conf_path = File("nginx.conf");
    const std::string error_log = File("error.log");
    nginx_pid_ = fork();
    if (nginx_pid_ < 0) return Fail("fork");
    if (nginx_pid_ == 0) {
      execl("/usr/sbin/nginx", "nginx", "-p", dir_.c_str(), "-e", error_log.c_str(), "-c",
            conf_path.c_str(), "-g", "daemon off;", static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready when every port accepts.
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    for (const auto& [kind, port] : ports_) {
      while (!Accepts(port)) {
        int status = 0;
        if (waitpid(nginx_pid_, &status, WNOHANG) == nginx_pid_) {
          nginx_pid_ = -1;
          std::system(absl::StrCat("cat '", error_log, "' >&2").c_str());
          return Fail("nginx (exited; its error log is above)");
        }
        if (absl::Now() > give_up) return Fail("waiting for nginx");
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
    return true;
  }

  static bool Accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return ok;
  }

  std::string dir_;
  std::map<TlsOrigin, int> ports_;
  pid_t nginx_pid_ = -1;
};

}  // namespace fetchpool::testing

#endif  // FETCHPOOL_TESTS_INTEGRATION_TLS_TEST_ENV_H_
