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

constexpr char kForeignPython[] = "/usr/bin/python3";  // Debian's, where python3-libtorrent lives

// The foreign client dialling `peer` for `seconds` for the torrent at
// torrent_path, with certificate c (or none).
ChildProcess StartForeignPull(const Published& p, const std::string& name, const std::string& torrent_path,
                              const std::string& peer, const IssuedCertificate* c, double seconds) {
  std::vector<std::string> args = {DS_FOREIGN_CLIENT, torrent_path, peer, p.tmp / name, std::to_string(seconds)};
  if (c != nullptr) args = Concat(args, {"--cert", c->cert_path, "--key", c->key_path, "--dh", p.certs.dh()});
  return ChildProcess(SpawnProgram(kForeignPython, args, p.tmp / (name + ".out"), p.tmp / (name + ".err")));
}

// What it received: its one JSON line.
nlohmann::json ForeignResult(const Published& p, ChildProcess& client, const std::string& name, double seconds) {
  const int code = client.Wait(seconds + 30);
  INFO(name << " stderr: " << ReadFileText(p.tmp / (name + ".err")));
  REQUIRE(code == 0);
  auto lines = JsonLines(ReadFileText(p.tmp / (name + ".out")));
  REQUIRE(lines.size() == 1);
  MESSAGE(name << ": " << lines[0].dump());
  return lines[0];
}

// A copy of the checkpoint at `from` with some tensor bytes changed: the
// next version to publish.
std::string ChangedCopy(const std::string& from, const std::string& to) {
  std::vector<uint8_t> bytes = ReadBytes(from);
  for (size_t i = bytes.size() / 2; i < bytes.size(); i += 97) bytes[i] ^= 1;
  std::ofstream(to, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return to;
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
  Published p("", "", 1'500'000);  // 3 MB, a TLS torrent of the cluster CA with its revocation list
  REQUIRE(InitCertificateAuthority({.dir = p.certs.dir / "other-ca", .name = "someone else's CA"}).ok());
  const IssuedCertificate foreign = p.certs.Issue("intruder", 0, "other-ca");
  const IssuedCertificate expired = p.certs.Issue("expired", 400 * 86400);  // valid 365 days, from 400 days ago
  const IssuedCertificate revoked = p.certs.Issue("revoked");  // revoked below, after version 1
  std::string seed_endpoint;
  ChildProcess seed = p.StartSeed({}, &seed_endpoint);
  p.RemoveChunks();  // only the seed has them now

  SUBCASE("a node with a certificate of the cluster CA downloads byte-exact") {
    ChildProcess node =
        p.StartPull("node", FreeTcpPorts(1).front(), {"--peer", seed_endpoint, "--fallback-after", "-1"});
    const int code = node.Wait(60);
    INFO("node stderr: " << p.Err("node"));
    REQUIRE(code == 0);
    CHECK(p.Holds("node"));
    CHECK(U64(SummaryResult(ReadFileText(p.tmp / "node.out")), "downloaded_bytes") == 0);
  }

  SUBCASE("our roles refuse to start without a certificate, or with an expired one, in one line") {
    ChildProcess bare = p.StartPullAs("bare", FreeTcpPorts(1).front(), {"--peer", seed_endpoint});
    CHECK(bare.Wait(30) == 2);
    const std::string bare_err = p.Err("bare");
    CHECK(bare_err.find("closed swarm") != std::string::npos);
    CHECK(bare_err.find("tls_cert") != std::string::npos);
    CHECK(!p.Holds("bare"));

    ChildProcess old =
        p.StartPullAs("old", FreeTcpPorts(1).front(), Concat(p.certs.Flags(expired), {"--peer", seed_endpoint}));
    CHECK(old.Wait(30) == 2);
    CHECK(p.Err("old").find("expired") != std::string::npos);

    ChildProcess bare_seed(SpawnDeltaswarmTo({"seed", "--bucket", p.bucket, "--model", "m", "--trust", p.key_pub(),
                                              "--dir", p.tmp / "bare-seed", "--listen", "127.0.0.1:0", "-q"},
                                             p.tmp / "bare-seed.out", p.tmp / "bare-seed.err"));
    CHECK(bare_seed.Wait(30) == 2);
    CHECK(ReadFileText(p.tmp / "bare-seed.err").find("closed swarm") != std::string::npos);

    // The long-running roles stop too: retrying cannot bring a certificate.
    ChildProcess bare_node(SpawnDeltaswarmTo({"node", "--bucket", p.bucket, "--model", "m", "--trust", p.key_pub(),
                                              "--dest", p.tmp / "bare-node", "--listen", "127.0.0.1:0", "--peer",
                                              seed_endpoint, "--poll-interval", "0.2", "-q"},
                                             p.tmp / "bare-node.out", p.tmp / "bare-node.err"));
    CHECK(bare_node.Wait(30) == 2);
    CHECK(ReadFileText(p.tmp / "bare-node.err").find("closed swarm") != std::string::npos);
    ChildProcess bare_gateway(SpawnDeltaswarmTo({"gateway", "--bucket", p.bucket, "--model", "m", "--trust",
                                                 p.key_pub(), "--dir", p.tmp / "bare-gateway", "--http",
                                                 "127.0.0.1:0", "--listen", "127.0.0.1:0", "--peer", seed_endpoint,
                                                 "--poll-interval", "0.2", "-q"},
                                                p.tmp / "bare-gateway.out", p.tmp / "bare-gateway.err"));
    CHECK(bare_gateway.Wait(30) == 2);
    CHECK(ReadFileText(p.tmp / "bare-gateway.err").find("closed swarm") != std::string::npos);
  }

  SUBCASE("third-party clients get no payload without a valid certificate of the cluster CA") {
    // The control: the same client with a valid certificate gets it all, so
    // the zeros below are the swarm refusing, not the client failing.
    ChildProcess valid = StartForeignPull(p, "valid", p.torrent_path(), seed_endpoint, &p.certs.node, 30);
    const std::vector<std::pair<std::string, const IssuedCertificate*>> refused = {
        {"no-certificate", nullptr}, {"other-ca", &foreign}, {"expired", &expired}};
    std::vector<ChildProcess> clients;
    for (const auto& [name, cert] : refused)
      clients.push_back(StartForeignPull(p, name, p.torrent_path(), seed_endpoint, cert, 20));
    const auto got_valid = ForeignResult(p, valid, "valid", 30);
    CHECK(got_valid["finished"].get<bool>());
    CHECK(got_valid["payload_download"].get<uint64_t>() >= p.payload_bytes());
    for (size_t i = 0; i < refused.size(); ++i) {
      const auto got = ForeignResult(p, clients[i], refused[i].first, 20);
      CHECK_MESSAGE(got["payload_download"].get<uint64_t>() == 0, refused[i].first);
      CHECK_MESSAGE(got["done"].get<uint64_t>() == 0, refused[i].first);
    }

    // A peer speaking plain BitTorrent, knowing the info-hash from the
    // manifest, gets no BitTorrent handshake back (BEP 52: the v2 info-hash
    // truncated to 20 bytes names the swarm in a handshake).
    const std::string reply = PlainHandshakeReply(seed_endpoint, p.info_hash().substr(0, 40));
    CHECK(reply.find("BitTorrent protocol") == std::string::npos);
  }

  SUBCASE("a revoked certificate gets nothing of a version published after the revocation") {
    REQUIRE(RevokeCertificate(p.certs.dir / "ca", revoked.cert_path).ok());
    const Manifest v2 = p.Publish(ChangedCopy(p.checkpoint(), p.tmp / "v1.safetensors"), 2);
    std::string seed2_endpoint;
    ChildProcess seed2 = p.StartSeed({}, &seed2_endpoint, 2);
    // Version 1 was published before the revocation: its torrent's list does
    // not name the certificate. Version 2's does; its seed refuses it and
    // serves a valid one.
    ChildProcess before = StartForeignPull(p, "revoked-v1", p.torrent_path(), seed_endpoint, &revoked, 30);
    ChildProcess valid = StartForeignPull(p, "valid-v2", p.TorrentPath(v2), seed2_endpoint, &p.certs.node, 30);
    ChildProcess after = StartForeignPull(p, "revoked-v2", p.TorrentPath(v2), seed2_endpoint, &revoked, 20);
    CHECK(ForeignResult(p, before, "revoked-v1", 30)["finished"].get<bool>());
    CHECK(ForeignResult(p, valid, "valid-v2", 30)["finished"].get<bool>());
    const auto got = ForeignResult(p, after, "revoked-v2", 20);
    CHECK(got["payload_download"].get<uint64_t>() == 0);
    CHECK(got["done"].get<uint64_t>() == 0);
  }
}
