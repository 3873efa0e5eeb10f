// BucketServer: a directory bucket read back through HttpBucket, as nodes
// behind a gateway read its mirror, and the requests it must refuse; over
// HTTPS, the certificates it must refuse and the clients that must refuse it.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <span>

#include "bucket/bucket_server.h"
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
  REQUIRE((*http)->GetToFile("m/versions/1/manifest.json", tmp / "copy", nullptr).ok());
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
    REQUIRE((*bucket)->GetToFile("m/versions/1/manifest.json", mirror.tmp / "copy", nullptr).ok());
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
    CHECK_FALSE((*bucket)->GetToFile("m/versions/1/manifest.json", mirror.tmp / "copy", nullptr).ok());
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
