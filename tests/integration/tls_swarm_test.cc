// A closed swarm of separate processes on 127.0.0.1: versions published as
// TLS torrents of a cluster CA are served only to holders of that CA's
// certificates. A node with one downloads byte-exact; our own roles without
// one, or with an expired one, refuse to start with one line; third-party
// clients (Debian's python3-libtorrent, tests/tools/foreign_client.py, and a
// raw socket speaking plain BitTorrent) get no payload without a valid
// certificate, with one from another CA, an expired or a revoked one. Every
// process is owned by a ChildProcess and every wait is bounded.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "deltaswarm/tls.h"
#include "json_lines.h"
#include "published_version.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

constexpr char kForeignPython[] = "/usr/bin/python3";  // Debian's, where python3-libtorrent lives

// A cluster CA, a second unrelated CA, and the certificates the tests present.
struct Certificates {
  TempDir dir;
  IssuedCertificate seed, node, foreign, expired, revoked;

  Certificates() {
    REQUIRE(InitCertificateAuthority({.dir = dir / "ca"}).ok());
    REQUIRE(InitCertificateAuthority({.dir = dir / "other-ca", .name = "someone else's CA"}).ok());
    seed = Issue("ca", "seed", 0);
    node = Issue("ca", "node", 0);
    foreign = Issue("other-ca", "intruder", 0);
    expired = Issue("ca", "expired", 400 * 86400);  // valid 365 days, from 400 days ago
    revoked = Issue("ca", "revoked", 0);
    REQUIRE(RevokeCertificate(dir / "ca", revoked.cert_path).ok());
    std::ofstream(dh()) << Ffdhe2048Pem();
  }
  IssuedCertificate Issue(const std::string& ca, const std::string& name, int64_t backdate_s) {
    IssueOptions o;
    o.ca_dir = dir / ca;
    o.name = name;
    o.out = dir / (name + ".pem");
    o.backdate_s = backdate_s;
    auto issued = IssueCertificate(o);
    REQUIRE_MESSAGE(issued.ok(), issued.status().ToString());
    return *issued;
  }
  std::string ca_cert() const { return CaCertPath(dir / "ca"); }
  std::string crl() const { return CrlPath(dir / "ca"); }
  std::string dh() const { return dir / "dh.pem"; }
  // publish flags: TLS torrents of the cluster CA carrying its revocation list.
  std::vector<std::string> PublishFlags() const { return {"--tls-ca", ca_cert(), "--tls-crl", crl()}; }
  static std::vector<std::string> Flags(const IssuedCertificate& c) {
    return {"--tls-cert", c.cert_path, "--tls-key", c.key_path};
  }
};

// What the foreign client received in `seconds` from `peer`, with the
// certificate c (or none).
nlohmann::json ForeignPull(const Published& p, const Certificates& certs, const std::string& name,
                           const std::string& peer, const IssuedCertificate* c, double seconds) {
  std::vector<std::string> args = {DS_FOREIGN_CLIENT, p.torrent_path(), peer, p.tmp / name,
                                   std::to_string(seconds)};
  if (c != nullptr) {
    for (const std::string& a : {std::string("--cert"), c->cert_path, std::string("--key"), c->key_path,
                                 std::string("--dh"), certs.dh()})
      args.push_back(a);
  }
  ChildProcess client(SpawnProgram(kForeignPython, args, p.tmp / (name + ".out"), p.tmp / (name + ".err")));
  const int code = client.Wait(seconds + 30);
  INFO(name << " stderr: " << ReadFileText(p.tmp / (name + ".err")));
  REQUIRE(code == 0);
  auto lines = JsonLines(ReadFileText(p.tmp / (name + ".out")));
  REQUIRE(lines.size() == 1);
  MESSAGE(name << ": " << lines[0].dump());
  return lines[0];
}

// Connects to endpoint and sends a plain BitTorrent handshake for the
// torrent; the bytes that come back within 3 s (a TLS server answers a
// non-TLS hello with an alert at most, never a BitTorrent handshake).
std::string PlainHandshakeReply(const std::string& endpoint, const std::string& info_hash_hex) {
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string hello = std::string(1, '\x13') + "BitTorrent protocol" + std::string(8, '\0');
    for (size_t i = 0; i < 40; i += 2)
      hello.push_back(static_cast<char>(std::stoi(info_hash_hex.substr(i, 2), nullptr, 16)));
    hello += "-XX0000-foreignpeer1";
    (void)!::write(fd, hello.data(), hello.size());
    for (int waited_ms = 0; waited_ms < 3000; waited_ms += 100) {
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      std::array<char, 4096> buf;
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n <= 0) break;
      reply.append(buf.data(), static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

}  // namespace

TEST_CASE("a closed swarm serves cluster certificate holders only") {
  Certificates certs;
  Published p("", "", 1'500'000, certs.PublishFlags());  // 3 MB
  std::string seed_endpoint;
  ChildProcess seed = p.StartSeed(Certificates::Flags(certs.seed), &seed_endpoint);
  p.RemoveChunks();  // only the seed has them now

  SUBCASE("a node with a certificate of the cluster CA downloads byte-exact") {
    ChildProcess node = p.StartPull("node", FreeTcpPorts(1).front(),
                                    Concat(Certificates::Flags(certs.node),
                                           {"--peer", seed_endpoint, "--fallback-after", "-1"}));
    const int code = node.Wait(60);
    INFO("node stderr: " << p.Err("node"));
    REQUIRE(code == 0);
    CHECK(p.Holds("node"));
    CHECK(U64(SummaryResult(ReadFileText(p.tmp / "node.out")), "downloaded_bytes") == 0);
  }

  SUBCASE("our roles refuse to start without a certificate, or with an expired one, in one line") {
    ChildProcess bare = p.StartPull("bare", FreeTcpPorts(1).front(), {"--peer", seed_endpoint});
    CHECK(bare.Wait(30) == 2);
    const std::string bare_err = p.Err("bare");
    CHECK(bare_err.find("closed swarm") != std::string::npos);
    CHECK(bare_err.find("tls_cert") != std::string::npos);
    CHECK(!p.Holds("bare"));

    ChildProcess old = p.StartPull("old", FreeTcpPorts(1).front(),
                                   Concat(Certificates::Flags(certs.expired), {"--peer", seed_endpoint}));
    CHECK(old.Wait(30) != 0);
    CHECK(p.Err("old").find("expired") != std::string::npos);

    ChildProcess bare_seed(SpawnDeltaswarmTo({"seed", "--bucket", p.bucket, "--model", "m", "--trust", p.key_pub(),
                                              "--dir", p.tmp / "bare-seed", "--listen", "127.0.0.1:0", "-q"},
                                             p.tmp / "bare-seed.out", p.tmp / "bare-seed.err"));
    CHECK(bare_seed.Wait(30) == 2);
    CHECK(ReadFileText(p.tmp / "bare-seed.err").find("closed swarm") != std::string::npos);
  }

  SUBCASE("third-party clients get no payload without a valid certificate of the cluster CA") {
    // The control first: the same client with a valid certificate gets it all,
    // so the zeros below are the swarm refusing, not the client failing.
    const auto valid = ForeignPull(p, certs, "valid", seed_endpoint, &certs.node, 30);
    CHECK(valid["finished"].get<bool>());
    CHECK(valid["payload_download"].get<uint64_t>() >= p.payload_bytes());

    for (const auto& [name, cert] : std::vector<std::pair<std::string, const IssuedCertificate*>>{
             {"no-certificate", nullptr},
             {"other-ca", &certs.foreign},
             {"expired", &certs.expired},
             {"revoked", &certs.revoked}}) {
      const auto got = ForeignPull(p, certs, name, seed_endpoint, cert, 20);
      CHECK_MESSAGE(got["payload_download"].get<uint64_t>() == 0, name);
      CHECK_MESSAGE(got["done"].get<uint64_t>() == 0, name);
    }

    // A peer speaking plain BitTorrent, knowing the info-hash from the
    // manifest, gets no BitTorrent handshake back.
    // (BEP 52: a v2 info-hash truncated to 20 bytes names the swarm in the handshake.)
    const std::string reply = PlainHandshakeReply(seed_endpoint, p.info_hash().substr(0, 40));
    CHECK(reply.find("BitTorrent protocol") == std::string::npos);
  }
}
