// BucketServer: a directory bucket read back through HttpBucket, as nodes
// behind a gateway read its mirror, and the requests it must refuse; over
// HTTPS, the certificates it must refuse and the clients that must refuse it;
// hostile clients (floods of idle connections, a full descriptor table, slow
// headers, symbolic links in the mirror) it must shrug off.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <thread>

#include "bucket/bucket_server.h"
#include "bucket/connection_limits.h"
#include "bucket/open_beneath.h"
#include "bucket/http_bucket.h"
#include "deltaswarm/bucket.h"
#include "deltaswarm/tls.h"
#include "test_util.h"

using namespace deltaswarm;
using deltaswarm::testing::TempDir;

namespace {

std::span<const std::byte> Bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

std::string Text(const std::vector<std::byte>& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A TCP connection to 127.0.0.1:port whose reads give up after 5 s.
int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// Sends one raw HTTP/1.1 request to 127.0.0.1:port and returns the status line.
std::string StatusLineOf(int port, const std::string& request) {
  int fd = ConnectLoopback(port);
  REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
  std::string response(4096, '\0');
  ssize_t n = ::recv(fd, response.data(), response.size(), 0);
  ::close(fd);
  response.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return response.substr(0, response.find("\r\n"));
}

// A cluster CA in its own directory, and the identities it issues.
class Cluster {
 public:
  explicit Cluster(const std::string& name) : name_(name) {
    CaInitOptions o;
    o.dir = ca_dir();
    o.name = name + " CA";
    Status st = InitCertificateAuthority(o);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  std::string ca_dir() const { return tmp_ / "ca"; }
  std::string ca() const { return CaCertPath(ca_dir()); }
  std::string crl() const { return CrlPath(ca_dir()); }
  // A certificate for cn (hosts: the addresses it serves on), with this CA as
  // the one it verifies others against.
  TlsIdentity Issue(const std::string& cn, std::vector<std::string> hosts = {}) const {
    IssueOptions o;
    o.ca_dir = ca_dir();
    o.name = cn;
    o.hosts = std::move(hosts);
    o.out = tmp_ / (cn + ".pem");
    Result<IssuedCertificate> issued = IssueCertificate(o);
    REQUIRE_MESSAGE(issued.ok(), issued.status().ToString());
    return TlsIdentity{issued->cert_path, issued->key_path, ca()};
  }

 private:
  std::string name_;
  TempDir tmp_;
};

// A mirror holding one large object and refs/latest.
struct Mirror {
  TempDir tmp;
  std::string root = tmp / "mirror";
  const std::string manifest = std::string(300000, 'm');  // larger than one socket buffer
  Mirror() {
    auto dir = OpenBucket(root, /*create=*/true);
    REQUIRE(dir.ok());
    REQUIRE((*dir)->Put("m/versions/1/manifest.json", Bytes(manifest)).ok());
    REQUIRE((*dir)->Put("m/refs/latest", Bytes("1\n")).ok());
  }
};

// Starts an HTTPS server on root for identity that demands client certificates.
std::unique_ptr<BucketServer> StartHttps(const std::string& root, const TlsIdentity& identity,
                                         const std::string& crl = "",
                                         std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10)) {
  BucketServerTls tls;
  tls.identity = identity;
  tls.require_client_cert = true;
  tls.crl = crl;
  tls.handshake_timeout = handshake_timeout;
  auto server = BucketServer::Start(root, "127.0.0.1:0", tls);
  REQUIRE_MESSAGE(server.ok(), server.status().ToString());
  return std::move(server).value();
}

// What a client reading refs/latest through bucket got: the body, or the error.
struct ReadOutcome {
  bool ok = false;
  std::string body;
  Status status;
};
ReadOutcome ReadLatest(Bucket& bucket) {
  auto got = bucket.Get("m/refs/latest", 64);
  if (!got.ok()) return {false, "", got.status()};
  return {true, Text(*got), Status::Ok()};
}

// HttpBucket directly: unlike OpenBucket it does not check the identity
// first, so the server's own refusal is what the test sees.
ReadOutcome ReadLatestUnchecked(const std::string& url, const TlsIdentity& tls) {
  HttpOptions options;
  options.tls = tls;
  HttpBucket bucket(url, options);
  return ReadLatest(bucket);
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A TCP connection from the loopback address `from` (127.0.0.1, .2, ...: one
// host, several client addresses) to 127.0.0.1:port, or -1. Connecting and
// each read give up after timeout.
int ConnectFrom(const char* from, int port, milliseconds timeout = milliseconds(2000)) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect too
  sockaddr_in source{};
  source.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &source.sin_addr);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  return ::send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

// Reads until the received bytes end with suffix (true), or the stream ends,
// fails or times out (false).
bool RecvUntil(int fd, const std::string& suffix) {
  std::string got;
  char buf[4096];
  for (int reads = 0; reads < 1000; ++reads) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
    if (got.size() >= suffix.size() && got.compare(got.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  }
  return false;
}

// Sends request from the address `from` and returns the status line, "" if
// the server closed (or did not answer within timeout).
std::string StatusLineFrom(const char* from, int port, const std::string& request,
                           milliseconds timeout = milliseconds(2000)) {
  int fd = ConnectFrom(from, port, timeout);
  if (fd < 0) return "";
  std::string response(4096, '\0');
  ssize_t n = SendAll(fd, request) ? ::recv(fd, response.data(), response.size(), 0) : -1;
  ::close(fd);
  response.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return response.substr(0, response.find("\r\n"));
}

const std::string kGetLatest = "GET /m/refs/latest HTTP/1.1\r\nHost: x\r\n\r\n";

// How long until the server closes fd (it sends nothing first), in ms; -1 if
// it is still open after timeout.
double MillisUntilClosed(int fd, milliseconds timeout) {
  const auto start = Clock::now();
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return -1;
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_DONTWAIT);
  if (n > 0) return -1;  // data, not a close: not what these tests expect
  return MillisSince(start);
}

// Client connections that only connect, closed on scope exit; counts how
// many of them the server has closed.
class IdleConnections {
 public:
  IdleConnections() = default;
  IdleConnections(const IdleConnections&) = delete;
  IdleConnections& operator=(const IdleConnections&) = delete;
  ~IdleConnections() { CloseAll(); }

  // Opens n from the address `from`; returns how many connected.
  int Open(const char* from, int port, int n) {
    int opened = 0;
    for (int i = 0; i < n; ++i) {
      int fd = ConnectFrom(from, port);
      if (fd < 0) continue;
      fds_.push_back(fd);
      closed_.push_back(false);
      ++opened;
    }
    return opened;
  }
  // Polls (bounded by timeout) until at least want of them are closed by
  // the server; returns how many are.
  int WaitClosed(size_t want, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      std::vector<pollfd> polls;
      for (size_t i = 0; i < fds_.size(); ++i) polls.push_back({closed_[i] ? -1 : fds_[i], POLLIN | POLLRDHUP, 0});
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (closed() >= want || left <= 0) return static_cast<int>(closed());
      if (::poll(polls.data(), polls.size(), static_cast<int>(std::min<long long>(left, 100))) < 0) continue;
      for (size_t i = 0; i < polls.size(); ++i)
        if (polls[i].fd >= 0 && polls[i].revents != 0) closed_[i] = true;  // EOF or reset: it sends no data
    }
  }
  size_t closed() const { return static_cast<size_t>(std::count(closed_.begin(), closed_.end(), true)); }
  size_t size() const { return fds_.size(); }
  void CloseAll() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    closed_.clear();
  }

 private:
  std::vector<int> fds_;
  std::vector<bool> closed_;
};

// CPU seconds (user + system) pid has used, from /proc/<pid>/stat; -1 if unreadable.
double CpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));  // from field 3, the state
  std::string field;
  long long utime = -1, stime = -1;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  if (utime < 0 || stime < 0) return -1;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Reads exactly size bytes from fd within timeout; false otherwise.
bool ReadFully(int fd, void* out, size_t size, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  size_t got = 0;
  while (got < size) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    ssize_t n = ::read(fd, static_cast<char*>(out) + got, size - got);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

// A BucketServer (default limits) in a forked child whose descriptor limit
// is fd_limit, so a flood can exhaust it without touching the test
// process's. With hog the child then takes every descriptor left, as a busy
// gateway's swarm might, until Release(). The child dies with the test
// (PR_SET_PDEATHSIG), within 60 s anyway (alarm), and is ended and reaped by
// pid when this goes out of scope, a failed REQUIRE included.
class ForkedServer {
 public:
  struct Report {
    int port = -1;
    int max_connections = 0;
    int per_address = 0;
    int hogged = 0;  // descriptors the child took after starting the server
  };

  ForkedServer(const std::string& root, int fd_limit, bool hog) {
    int down[2], up[2];
    REQUIRE(::pipe2(down, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(down[1]);
      ::close(up[0]);
      ServeInChild(root, fd_limit, hog, parent, down[0], up[1]);
    }
    child_ = deltaswarm::testing::ChildProcess(pid, /*grace_s=*/1);
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
    REQUIRE_MESSAGE(ReadFully(from_child_, &report_, sizeof report_, milliseconds(10000)), "the child never reported");
    REQUIRE_MESSAGE(report_.port > 0, "the child could not start its server");
  }
  ~ForkedServer() {
    ::close(to_child_);  // the child exits when its end reads EOF
    ::close(from_child_);
  }
  ForkedServer(const ForkedServer&) = delete;
  ForkedServer& operator=(const ForkedServer&) = delete;

  const Report& report() const { return report_; }
  int pid() const { return child_.pid(); }
  // The child closes the descriptors it took; true once it says so.
  bool Release() {
    char ack = 0;
    return ::write(to_child_, "r", 1) == 1 && ReadFully(from_child_, &ack, 1, milliseconds(5000)) && ack == 'k';
  }

 private:
  // The child's whole life: no doctest macro, no return, only _exit.
  [[noreturn]] static void ServeInChild(const std::string& root, int fd_limit, bool hog, pid_t parent, int in,
                                        int out) {
    // doctest's handlers would report the test's own end as a crash of this copy.
    for (int sig : {SIGTERM, SIGINT, SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) ::signal(sig, SIG_DFL);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);  // the test died before the line above
    ::alarm(60);
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = static_cast<rlim_t>(fd_limit);
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(2);
    Report report;
    auto server = BucketServer::Start(root, "127.0.0.1:0");
    if (server.ok()) {
      report.port = (*server)->port();
      report.max_connections = (*server)->max_connections();
      report.per_address = (*server)->max_connections_per_address();
    }
    std::vector<int> hogs;
    hogs.reserve(4096);
    for (int i = 0; hog && i < 4096; ++i) {
      const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      hogs.push_back(fd);
    }
    report.hogged = static_cast<int>(hogs.size());
    if (::write(out, &report, sizeof report) != sizeof report || !server.ok()) ::_exit(3);
    char command = 0;
    while (::read(in, &command, 1) == 1) {
      for (int fd : hogs) ::close(fd);
      hogs.clear();
      if (::write(out, "k", 1) != 1) ::_exit(4);
    }
    ::_exit(0);
  }

  deltaswarm::testing::ChildProcess child_;
  int to_child_ = -1;
  int from_child_ = -1;
  Report report_;
};

// The test opens hundreds of sockets: make sure its own limit allows them.
void RaiseOwnDescriptorLimit(rlim_t want) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur >= want) return;
  limit.rlim_cur = std::min(want, limit.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  REQUIRE(limit.rlim_cur >= want);
}

// Starts a plain HTTP server on root with limits.
std::unique_ptr<BucketServer> StartHttp(const std::string& root, const BucketServerLimits& limits) {
  auto server = BucketServer::Start(root, "127.0.0.1:0", BucketServerTls{}, limits);
  REQUIRE_MESSAGE(server.ok(), server.status().ToString());
  return std::move(server).value();
}

}  // namespace

TEST_CASE("a directory bucket served over HTTP reads back byte-identical through HttpBucket") {
  TempDir tmp;
  auto dir = OpenBucket(tmp / "mirror", /*create=*/true);
  REQUIRE(dir.ok());
  const std::string manifest(300000, 'm');  // larger than one socket buffer
  REQUIRE((*dir)->Put("m/versions/1/manifest.json", Bytes(manifest)).ok());
  REQUIRE((*dir)->Put("m/refs/latest", Bytes("1\n")).ok());

  auto server = BucketServer::Start(tmp / "mirror", "127.0.0.1:0");
  REQUIRE_MESSAGE(server.ok(), server.status().ToString());
  CHECK((*server)->url() == "http://127.0.0.1:" + std::to_string((*server)->port()) + "/");
  auto http = OpenBucket((*server)->url());
  REQUIRE(http.ok());

  auto latest = (*http)->Get("m/refs/latest", 64);
  REQUIRE(latest.ok());
  CHECK(std::string(reinterpret_cast<const char*>(latest->data()), latest->size()) == "1\n");
  auto size = (*http)->Size("m/versions/1/manifest.json");  // HEAD
  REQUIRE(size.ok());
  CHECK(*size == manifest.size());
  REQUIRE((*http)->GetToFile("m/versions/1/manifest.json", tmp / "copy", manifest.size(), nullptr, nullptr).ok());
  CHECK(deltaswarm::testing::ReadFileText(tmp / "copy") == manifest);

  CHECK((*http)->Get("m/versions/2/manifest.json", 1 << 20).status().code() == Code::kNotFound);
}

TEST_CASE("the bucket server refuses what escapes its root, writes and writers' temporaries") {
  TempDir tmp;
  auto dir = OpenBucket(tmp / "root/mirror", /*create=*/true);
  REQUIRE(dir.ok());
  REQUIRE((*dir)->Put("m/refs/latest", Bytes("1\n")).ok());
  deltaswarm::testing::WriteBytes(tmp / "root/secret", {'s'});
  deltaswarm::testing::WriteBytes(tmp / "root/mirror/m/refs/latest.tmp-1-1", {'1'});
  auto server = BucketServer::Start(tmp / "root/mirror", "127.0.0.1:0");
  REQUIRE(server.ok());
  const int port = (*server)->port();

  CHECK(StatusLineOf(port, "GET /m/refs/latest HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK");
  CHECK(StatusLineOf(port, "HEAD /m/refs/latest HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK");
  CHECK(StatusLineOf(port, "GET /m/refs/ HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "GET /m/refs HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "GET /../secret HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "GET /m/../../secret HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "GET /m/refs/latest.tmp-1-1 HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "PUT /m/refs/latest HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n") ==
        "HTTP/1.1 405 Method Not Allowed");
  CHECK(StatusLineOf(port, "DELETE /m/refs/latest HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 405 Method Not Allowed");
  CHECK(deltaswarm::testing::ReadFileText(tmp / "root/mirror/m/refs/latest") == "1\n");
}

TEST_CASE("the bucket server reports a port it cannot take and a malformed address") {
  TempDir tmp;
  auto first = BucketServer::Start(tmp.path(), "127.0.0.1:0");
  REQUIRE(first.ok());
  auto second = BucketServer::Start(tmp.path(), "127.0.0.1:" + std::to_string((*first)->port()));
  CHECK(second.status().code() == Code::kIoError);
  CHECK(BucketServer::Start(tmp.path(), "localhost").status().code() == Code::kInvalidArgument);
  CHECK(BucketServer::Start(tmp.path(), "127.0.0.1:99999").status().code() == Code::kInvalidArgument);
  CHECK(BucketServer::Start(tmp.path(), "not-an-ip:80").status().code() == Code::kInvalidArgument);
}

TEST_CASE("over HTTPS with require_client_cert only the cluster's certificates read the mirror") {
  Mirror mirror;
  Cluster cluster("lab");
  Cluster other("elsewhere");
  const TlsIdentity gateway = cluster.Issue("gateway", {"127.0.0.1"});
  const TlsIdentity node = cluster.Issue("node-1");
  auto server = StartHttps(mirror.root, gateway);
  const std::string url = server->url();
  CHECK(url == "https://127.0.0.1:" + std::to_string(server->port()) + "/");

  SUBCASE("a node with a certificate from the cluster CA reads every object byte-exact") {
    auto bucket = OpenBucket(url, /*create=*/false, node);
    REQUIRE_MESSAGE(bucket.ok(), bucket.status().ToString());
    ReadOutcome latest = ReadLatest(**bucket);
    REQUIRE_MESSAGE(latest.ok, latest.status.ToString());
    CHECK(latest.body == "1\n");
    auto size = (*bucket)->Size("m/versions/1/manifest.json");
    REQUIRE(size.ok());
    CHECK(*size == mirror.manifest.size());
    REQUIRE((*bucket)
                ->GetToFile("m/versions/1/manifest.json", mirror.tmp / "copy", mirror.manifest.size(), nullptr, nullptr)
                .ok());
    CHECK(deltaswarm::testing::ReadFileText(mirror.tmp / "copy") == mirror.manifest);
    CHECK((*bucket)->Get("m/versions/2/manifest.json", 1 << 20).status().code() == Code::kNotFound);
  }

  SUBCASE("a client without a certificate gets no body") {
    auto bucket = OpenBucket(url, /*create=*/false, TlsIdentity{"", "", cluster.ca()});
    REQUIRE(bucket.ok());  // it trusts the server; the server does not trust it
    ReadOutcome latest = ReadLatest(**bucket);
    CHECK_FALSE(latest.ok);
    CHECK(latest.body.empty());
    CHECK(latest.status.code() == Code::kIoError);
    CHECK_FALSE((*bucket)
                    ->GetToFile("m/versions/1/manifest.json", mirror.tmp / "copy", mirror.manifest.size(), nullptr,
                                nullptr)
                    .ok());
    CHECK_FALSE(std::filesystem::exists(mirror.tmp / "copy"));
  }

  SUBCASE("a certificate from another CA is refused by the server") {
    TlsIdentity intruder = other.Issue("intruder");
    intruder.ca = cluster.ca();  // it trusts the gateway; the gateway must not trust it
    ReadOutcome latest = ReadLatestUnchecked(url, intruder);
    CHECK_FALSE(latest.ok);
    CHECK(latest.body.empty());
    CHECK(latest.status.code() == Code::kIoError);
    // OpenBucket already catches the mismatch, in one line naming the file.
    auto opened = OpenBucket(url, /*create=*/false, intruder);
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.status().message().find(intruder.cert) != std::string::npos);
    CHECK(opened.status().message().find('\n') == std::string::npos);
  }

  SUBCASE("a client that does not trust the server's CA refuses the server") {
    const TlsIdentity stranger = other.Issue("stranger");  // verifies servers against its own CA
    auto bucket = OpenBucket(url, /*create=*/false, stranger);
    REQUIRE(bucket.ok());
    ReadOutcome latest = ReadLatest(**bucket);
    CHECK_FALSE(latest.ok);
    CHECK(latest.status.message().find("certificate") != std::string::npos);
    // Even holding a cluster certificate, a client that trusts only the
    // other CA refuses the gateway.
    TlsIdentity misconfigured = node;
    misconfigured.ca = other.ca();
    ReadOutcome unchecked = ReadLatestUnchecked(url, misconfigured);
    CHECK_FALSE(unchecked.ok);
    CHECK(unchecked.status.message().find("certificate") != std::string::npos);
  }

  SUBCASE("plain HTTP to the HTTPS port gets no HTTP answer, and the server keeps serving") {
    CHECK(StatusLineOf(server->port(), "GET /m/refs/latest HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/", 0) ==
          std::string::npos);
    auto bucket = OpenBucket(url, /*create=*/false, node);
    REQUIRE(bucket.ok());
    CHECK(ReadLatest(**bucket).body == "1\n");
  }
}

TEST_CASE("an HTTPS client verifies that the server's certificate names the address it dialled") {
  Mirror mirror;
  Cluster cluster("lab");
  // Issued by the right CA, but for another address only.
  auto server = StartHttps(mirror.root, cluster.Issue("gateway", {"192.0.2.1", "gateway.lab"}));
  auto bucket = OpenBucket(server->url(), /*create=*/false, cluster.Issue("node-1"));
  REQUIRE(bucket.ok());
  ReadOutcome latest = ReadLatest(**bucket);
  CHECK_FALSE(latest.ok);
  CHECK(latest.body.empty());
  CHECK(latest.status.message().find("127.0.0.1") != std::string::npos);
}

TEST_CASE("a revoked client certificate is refused once the server checks the CRL") {
  Mirror mirror;
  Cluster cluster("lab");
  const TlsIdentity gateway = cluster.Issue("gateway", {"127.0.0.1"});
  const TlsIdentity kept = cluster.Issue("node-1");
  const TlsIdentity revoked = cluster.Issue("node-2");
  REQUIRE(RevokeCertificate(cluster.ca_dir(), revoked.cert).ok());

  // Without the CRL the server cannot know.
  {
    auto server = StartHttps(mirror.root, gateway);
    CHECK(ReadLatestUnchecked(server->url(), revoked).ok);
  }
  auto server = StartHttps(mirror.root, gateway, cluster.crl());
  ReadOutcome refused = ReadLatestUnchecked(server->url(), revoked);
  CHECK_FALSE(refused.ok);
  CHECK(refused.body.empty());
  ReadOutcome served = ReadLatestUnchecked(server->url(), kept);
  CHECK_MESSAGE(served.ok, served.status.ToString());
  CHECK(served.body == "1\n");
}

TEST_CASE("an HTTPS client that never handshakes neither blocks others nor keeps its connection") {
  Mirror mirror;
  Cluster cluster("lab");
  auto server = StartHttps(mirror.root, cluster.Issue("gateway", {"127.0.0.1"}), "", std::chrono::seconds(2));
  const TlsIdentity node = cluster.Issue("node-1");
  const int idle = ConnectLoopback(server->port());  // connects, then says nothing
  const int half = ConnectLoopback(server->port());  // starts something that is not TLS, then stalls
  REQUIRE(::send(half, "\x16\x03\x01", 3, 0) == 3);

  const auto before = std::chrono::steady_clock::now();
  CHECK(ReadLatestUnchecked(server->url(), node).body == "1\n");
  // Served at once, not after the idle connections time out.
  CHECK(std::chrono::steady_clock::now() - before < std::chrono::milliseconds(1500));

  // The server hangs up on both once the handshake timeout passes (recv: 0
  // bytes, the end of the stream, well before the 5 s read timeout).
  char byte = 0;
  CHECK(::recv(idle, &byte, 1, 0) == 0);
  CHECK(::recv(half, &byte, 1, 0) <= 0);
  CHECK(std::chrono::steady_clock::now() - before < std::chrono::milliseconds(4500));
  ::close(idle);
  ::close(half);
  CHECK(ReadLatestUnchecked(server->url(), node).body == "1\n");
}

TEST_CASE("the HTTPS server and client report a bad TLS setup in one line naming it") {
  TempDir tmp;
  Cluster cluster("lab");
  const TlsIdentity gateway = cluster.Issue("gateway", {"127.0.0.1"});
  auto start = [&](BucketServerTls tls) { return BucketServer::Start(tmp.path(), "127.0.0.1:0", tls).status(); };

  BucketServerTls no_ca{TlsIdentity{gateway.cert, gateway.key, ""}, true, ""};
  CHECK(start(no_ca).code() == Code::kInvalidArgument);
  CHECK(start(no_ca).message().find("tls_ca") != std::string::npos);
  CHECK(start(BucketServerTls{gateway, false, cluster.crl()}).code() == Code::kInvalidArgument);
  CHECK(start(BucketServerTls{TlsIdentity{}, true, ""}).code() == Code::kInvalidArgument);
  Status missing = start(BucketServerTls{TlsIdentity{tmp / "none.pem", tmp / "none.key", cluster.ca()}, true, ""});
  CHECK_FALSE(missing.ok());
  CHECK(missing.message().find(tmp / "none.pem") != std::string::npos);
  deltaswarm::testing::WriteBytes(tmp / "junk.pem", {'j', 'u', 'n', 'k'});
  CHECK_FALSE(start(BucketServerTls{gateway, true, tmp / "junk.pem"}).ok());
  Cluster other("elsewhere");
  Status foreign_crl = start(BucketServerTls{gateway, true, other.crl()});
  CHECK(foreign_crl.code() == Code::kInvalidArgument);
  CHECK(foreign_crl.message().find("not signed by") != std::string::npos);

  // An https:// bucket whose identity files are missing fails at open.
  for (const TlsIdentity& broken : {TlsIdentity{tmp / "none.pem", tmp / "none.key", cluster.ca()},
                                    TlsIdentity{gateway.cert, tmp / "none.key", cluster.ca()},
                                    TlsIdentity{"", "", tmp / "none-ca.pem"}}) {
    auto opened = OpenBucket("https://127.0.0.1:1/", /*create=*/false, broken);
    REQUIRE_FALSE(opened.ok());
    INFO(opened.status().message());
    CHECK(opened.status().message().find("none") != std::string::npos);
    CHECK(opened.status().message().find('\n') == std::string::npos);
  }
  // http:// does not use TLS, so a node's identity does not matter to it.
  CHECK(OpenBucket("http://127.0.0.1:1/", false, TlsIdentity{tmp / "none.pem", tmp / "none.key", ""}).ok());
}

TEST_CASE("300 idle connections under a 128-descriptor limit neither lock out another client nor spin the server") {
  RaiseOwnDescriptorLimit(1024);
  Mirror mirror;
  ForkedServer forked(mirror.root, /*fd_limit=*/128, /*hog=*/false);
  const ForkedServer::Report& r = forked.report();
  // Defaults 512 / 64, shrunk to half the 128 descriptors, in proportion.
  CHECK(r.max_connections == 64);
  CHECK(r.per_address == 8);

  const double cpu_before = CpuSeconds(forked.pid());
  REQUIRE(cpu_before >= 0);
  const auto window = Clock::now();
  IdleConnections flood;
  REQUIRE(flood.Open("127.0.0.1", r.port, 300) == 300);

  // Another client (address) is served at once, flood or not.
  const auto asked = Clock::now();
  CHECK(StatusLineFrom("127.0.0.2", r.port, kGetLatest, milliseconds(1500)) == "HTTP/1.1 200 OK");
  const double latency_ms = MillisSince(asked);
  CHECK(latency_ms < 1000);

  // All but the flooding address's 8 are closed at once, not left queued.
  const int closed = flood.WaitClosed(300 - r.per_address, milliseconds(1500));
  CHECK(closed == 300 - r.per_address);

  std::this_thread::sleep_until(window + milliseconds(2000));
  const double cpu = (CpuSeconds(forked.pid()) - cpu_before) / (MillisSince(window) / 1000);
  MESSAGE("flood of 300 under 128 fds: real GET from another address in ", latency_ms, " ms, ", closed,
          " closed at once, server CPU ", cpu * 100, " % over ", MillisSince(window), " ms");
  CHECK(cpu < 0.20);
  // The 8 it holds still count against it: a real request from the flooding
  // address itself is refused (closed) until they go.
  CHECK(StatusLineFrom("127.0.0.1", r.port, kGetLatest, milliseconds(1500)) == "");
  flood.CloseAll();
  std::string status;
  for (int i = 0; i < 40 && status != "HTTP/1.1 200 OK"; ++i) {
    if (i > 0) std::this_thread::sleep_for(milliseconds(50));
    status = StatusLineFrom("127.0.0.1", r.port, kGetLatest, milliseconds(1500));
  }
  CHECK(status == "HTTP/1.1 200 OK");
}

TEST_CASE("with no descriptor left the server closes what is pending, backs off instead of spinning, and recovers") {
  RaiseOwnDescriptorLimit(1024);
  Mirror mirror;
  ForkedServer forked(mirror.root, /*fd_limit=*/128, /*hog=*/true);
  REQUIRE(forked.report().hogged > 0);  // the child's table is full: every accept fails with EMFILE
  const int port = forked.report().port;

  const double cpu_before = CpuSeconds(forked.pid());
  REQUIRE(cpu_before >= 0);
  const auto window = Clock::now();
  IdleConnections flood;
  REQUIRE(flood.Open("127.0.0.1", port, 300) == 300);
  // Accepted on the reserve descriptor and closed, so they hear it now.
  const int closed = flood.WaitClosed(300, milliseconds(2000));
  CHECK(closed == 300);
  std::this_thread::sleep_until(window + milliseconds(2000));
  const double cpu = (CpuSeconds(forked.pid()) - cpu_before) / (MillisSince(window) / 1000);
  CHECK(cpu < 0.20);

  REQUIRE(forked.Release());
  const auto asked = Clock::now();
  std::string status;
  for (int i = 0; i < 40 && status != "HTTP/1.1 200 OK" && MillisSince(asked) < 3000; ++i) {
    if (i > 0) std::this_thread::sleep_for(milliseconds(50));
    status = StatusLineFrom("127.0.0.1", port, kGetLatest, milliseconds(2500));
  }
  const double recovery_ms = MillisSince(asked);
  MESSAGE("EMFILE flood of 300: ", closed, " closed, server CPU ", cpu * 100, " % over 2 s; served ", recovery_ms,
          " ms after descriptors came back");
  CHECK(status == "HTTP/1.1 200 OK");
  // While the table is full, accept fails at once even with nothing queued
  // (Linux takes the descriptor first), so the server retries once per
  // backoff, 1 s at most: the first request after the shortage waits that
  // long at worst (the rest is slack for a loaded machine).
  CHECK(recovery_ms < 2000);
}

TEST_CASE("connections beyond the per-address and total caps are closed at once; the rest stay and are served") {
  Mirror mirror;
  BucketServerLimits limits;
  limits.max_connections = 6;
  limits.max_connections_per_address = 4;
  auto server = StartHttp(mirror.root, limits);
  CHECK(server->max_connections() == 6);
  CHECK(server->max_connections_per_address() == 4);
  const int port = server->port();

  IdleConnections first;  // from 127.0.0.1
  REQUIRE(first.Open("127.0.0.1", port, 10) == 10);
  CHECK(first.WaitClosed(6, milliseconds(1500)) == 6);
  CHECK(first.WaitClosed(7, milliseconds(300)) == 6);  // its 4 stay open
  IdleConnections second;  // from 127.0.0.2: within its own cap, filling the total
  REQUIRE(second.Open("127.0.0.2", port, 2) == 2);
  CHECK(second.WaitClosed(1, milliseconds(300)) == 0);

  // Full: a third address is refused, then served once two places free up.
  CHECK(StatusLineFrom("127.0.0.3", port, kGetLatest) == "");
  second.CloseAll();
  std::string status;
  for (int i = 0; i < 40 && status != "HTTP/1.1 200 OK"; ++i) {
    if (i > 0) std::this_thread::sleep_for(milliseconds(50));
    status = StatusLineFrom("127.0.0.3", port, kGetLatest);
  }
  CHECK(status == "HTTP/1.1 200 OK");
  // 127.0.0.1 still holds its 4.
  CHECK(StatusLineFrom("127.0.0.1", port, kGetLatest) == "");
  first.CloseAll();
  status.clear();
  for (int i = 0; i < 40 && status != "HTTP/1.1 200 OK"; ++i) {
    if (i > 0) std::this_thread::sleep_for(milliseconds(50));
    status = StatusLineFrom("127.0.0.1", port, kGetLatest);
  }
  CHECK(status == "HTTP/1.1 200 OK");
}

TEST_CASE("a client that never completes its header is closed after the header timeout, an idle one after the idle timeout") {
  Mirror mirror;
  BucketServerLimits limits;
  limits.header_timeout = milliseconds(500);
  limits.idle_timeout = milliseconds(1500);
  auto server = StartHttp(mirror.root, limits);
  const int port = server->port();

  SUBCASE("half a header") {
    const int fd = ConnectFrom("127.0.0.1", port);
    REQUIRE(fd >= 0);
    REQUIRE(SendAll(fd, "GET /m/refs/latest HTTP/1.1\r\nHost: x\r\n"));
    const double ms = MillisUntilClosed(fd, milliseconds(3000));
    ::close(fd);
    MESSAGE("half a header closed after ", ms, " ms");
    CHECK(ms >= 400);
    CHECK(ms < 2000);
  }

  SUBCASE("nothing at all") {
    const int fd = ConnectFrom("127.0.0.1", port);
    REQUIRE(fd >= 0);
    const double ms = MillisUntilClosed(fd, milliseconds(3000));
    ::close(fd);
    CHECK(ms >= 400);
    CHECK(ms < 2000);
  }

  SUBCASE("a header trickled a byte every 100 ms never resets the deadline") {
    const int fd = ConnectFrom("127.0.0.1", port);
    REQUIRE(fd >= 0);
    REQUIRE(SendAll(fd, "GET /m/refs/latest HTTP/1.1\r\nX-Slow: "));
    const auto start = Clock::now();
    double closed_ms = -1;
    for (int i = 0; i < 40 && closed_ms < 0; ++i) {  // 4 s at most
      if (!SendAll(fd, "a")) break;  // the server is gone
      if (MillisUntilClosed(fd, milliseconds(100)) >= 0) closed_ms = MillisSince(start);
    }
    if (closed_ms < 0) closed_ms = MillisSince(start);
    ::close(fd);
    CHECK(closed_ms < 2000);
  }

  SUBCASE("keep-alive: a pause between requests within the idle timeout is fine, a longer one closes") {
    const int fd = ConnectFrom("127.0.0.1", port);
    REQUIRE(fd >= 0);
    REQUIRE(SendAll(fd, kGetLatest));
    REQUIRE(RecvUntil(fd, "\r\n\r\n1\n"));
    // Longer than the header timeout, shorter than the idle one.
    std::this_thread::sleep_for(milliseconds(800));
    REQUIRE(SendAll(fd, kGetLatest));
    CHECK(RecvUntil(fd, "\r\n\r\n1\n"));
    const double ms = MillisUntilClosed(fd, milliseconds(4000));
    ::close(fd);
    MESSAGE("idle keep-alive connection closed after ", ms, " ms");
    CHECK(ms >= 1200);
    CHECK(ms < 3500);
  }
}

TEST_CASE("a symbolic link in the mirror answers 404, to a file outside it or inside it; a regular file 200") {
  Mirror mirror;
  namespace fs = std::filesystem;
  const std::string refs = mirror.root + "/m/refs";
  fs::create_symlink("/etc/passwd", refs + "/passwd");
  fs::create_symlink("latest", refs + "/alias");                // relative, inside the mirror
  fs::create_symlink(refs + "/latest", refs + "/absolute");     // absolute, inside the mirror
  fs::create_directory_symlink(refs, mirror.root + "/m/linked");  // a directory on the way
  REQUIRE(::mkfifo((refs + "/fifo").c_str(), 0644) == 0);        // must not block the server either
  // The root itself may sit behind a link: the operator's choice, not a client's.
  fs::create_directory_symlink(mirror.root, mirror.tmp / "root-link");

  auto server = BucketServer::Start(mirror.tmp / "root-link", "127.0.0.1:0");
  REQUIRE(server.ok());
  const int port = (*server)->port();
  CHECK(StatusLineOf(port, kGetLatest) == "HTTP/1.1 200 OK");
  for (const std::string key : {"m/refs/passwd", "m/refs/alias", "m/refs/absolute", "m/linked/latest", "m/refs/fifo"}) {
    INFO(key);
    CHECK(StatusLineOf(port, "GET /" + key + " HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
    CHECK(StatusLineOf(port, "HEAD /" + key + " HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  }
  auto http = OpenBucket((*server)->url());
  REQUIRE(http.ok());
  ReadOutcome latest = ReadLatest(**http);
  CHECK(latest.body == "1\n");
  CHECK((*http)->Get("m/refs/passwd", 1 << 20).status().code() == Code::kNotFound);

  // Both ways of resolving agree (openat2 where the kernel has it, the
  // component walk where it does not).
  for (BeneathResolve how : {BeneathResolve::kOpenat2, BeneathResolve::kPerComponent}) {
    INFO("resolve " << static_cast<int>(how));
    Result<int> fd = OpenRegularFileBeneath(mirror.root, "m/refs/latest", how);
    if (how == BeneathResolve::kOpenat2 && fd.status().code() == Code::kUnsupported) {
      MESSAGE("openat2 not available here: only the component walk is tested");
      continue;
    }
    REQUIRE_MESSAGE(fd.ok(), fd.status().ToString());
    char buf[8] = {};
    CHECK(::read(*fd, buf, sizeof buf) == 2);
    ::close(*fd);
    CHECK(std::string(buf) == "1\n");
    for (const std::string key : {"m/refs/passwd", "m/refs/alias", "m/refs/absolute", "m/linked/latest",
                                  "m/refs/fifo", "m/refs", "m/refs/none", "m/../../etc/passwd"}) {
      INFO(key);
      Result<int> refused = OpenRegularFileBeneath(mirror.root, key, how);
      CHECK(refused.status().code() == Code::kNotFound);
      if (refused.ok()) ::close(*refused);
    }
  }
}

TEST_CASE("the connection caps shrink with the descriptor limit, and a limit below 1 is refused") {
  auto caps = [](int total, int per, uint64_t fds) {
    ConnectionCaps c = EffectiveCaps(total, per, fds);
    return std::to_string(c.total) + "/" + std::to_string(c.per_address);
  };
  CHECK(caps(512, 64, 0) == "512/64");  // limit unknown
  CHECK(caps(512, 64, static_cast<uint64_t>(RLIM_INFINITY)) == "512/64");
  CHECK(caps(512, 64, 1024) == "512/64");  // Debian's default soft limit: the defaults hold
  CHECK(caps(512, 64, 256) == "128/16");
  CHECK(caps(512, 64, 128) == "64/8");
  CHECK(caps(512, 64, 3) == "1/1");
  CHECK(caps(6, 4, 20000) == "6/4");
  CHECK(caps(6, 10, 20000) == "6/6");  // one address can never hold more than all

  TempDir tmp;
  for (auto change : std::vector<void (*)(BucketServerLimits&)>{
           [](BucketServerLimits& l) { l.max_connections = 0; },
           [](BucketServerLimits& l) { l.max_connections_per_address = 0; },
           [](BucketServerLimits& l) { l.header_timeout = milliseconds(0); },
           [](BucketServerLimits& l) { l.idle_timeout = milliseconds(-1); }}) {
    BucketServerLimits limits;
    change(limits);
    CHECK(BucketServer::Start(tmp.path(), "127.0.0.1:0", BucketServerTls{}, limits).status().code() ==
          Code::kInvalidArgument);
  }
}
