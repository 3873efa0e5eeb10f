// Swarms on loopback, in one process: a seed and leechers that find each other
// by peer exchange, a web seed served by a real nginx, an upload limit that
// holds between local peers, and waits that wake on alerts and on a stop.
// Every wait is bounded; every Swarm is shut down on scope exit.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cluster_certificates.h"
#include "deltaswarm/swarm.h"
#include "nginx_server.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Writes an artifact-like directory: index.dsi and chunk files of odd sizes
// (pad files in the v2 torrent) adding up to about total bytes.
void WritePayload(const std::string& dir, uint64_t total, uint64_t seed) {
  fs::create_directories(dir);
  WriteBytes(dir + "/index.dsi", RandomBytes(3000, seed));
  const uint64_t chunk = 3 * 1024 * 1024 + 12345;
  uint64_t written = 0;
  for (int i = 0; written < total; ++i) {
    const uint64_t n = std::min(chunk, total - written);
    char name[32];
    std::snprintf(name, sizeof name, "/chunk-%06d.dsc", i);
    WriteBytes(dir + name, RandomBytes(n, seed * 1000 + i));
    written += n;
  }
}

// Every swarm here is closed: TLS torrents of one cluster CA, every session
// presenting a certificate it issued.
const ClusterCertificates& Certificates() {
  static const ClusterCertificates certs;
  return certs;
}

// Up to six sessions in this process: few disk threads each.
std::unique_ptr<Swarm> StartSwarm(SwarmOptions options) {
  options.tls = Certificates().Identity(Certificates().node);
  options.aio_threads = 2;
  options.hashing_threads = 1;
  auto s = Swarm::Start(options);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  CHECK(s.value()->listen_port() > 0);
  return std::move(s).value();
}

TorrentFile Torrent(const std::string& dir, const std::string& name, const std::vector<std::string>& web_seeds) {
  TorrentAccess access;
  access.ca_cert_pem = ReadFileText(Certificates().ca_cert());
  access.crl_pem = ReadFileText(Certificates().crl());
  auto t = MakeTorrent(dir, name, web_seeds, access);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(t).value();
}

}  // namespace

TEST_CASE("a seed and 4 leechers with bounded peer lists: all finish, byte-identical") {
  TempDir tmp;
  WritePayload(tmp / "seed/delta", 20'000'000, 1);
  const TorrentFile t = Torrent(tmp / "seed/delta", "delta", {});

  // The seed's upload is limited so that leechers must also fetch from each
  // other, which they can only do once peer exchange has introduced them.
  SwarmOptions so;
  so.upload_rate = 10'000'000;
  auto seed = StartSwarm(so);
  auto seed_id = seed->AddSeed(t.bytes, tmp / "seed");
  REQUIRE_MESSAGE(seed_id.ok(), seed_id.status().ToString());

  std::vector<std::unique_ptr<Swarm>> leechers;
  std::vector<TorrentId> ids;
  for (int i = 0; i < 4; ++i) {
    // Each leecher knows the seed and the leecher before it: a bounded list,
    // never all-to-all. PEX alone proved unreliable when leechers arrive in the
    // same tick (the seed sends its first PEX list once, then every 60 s).
    SwarmOptions lo;
    lo.peers = {seed->endpoint()};
    if (i > 0) lo.peers.push_back(leechers.back()->endpoint());
    leechers.push_back(StartSwarm(lo));
    auto id = leechers.back()->AddDownload(t.bytes, tmp / ("leech" + std::to_string(i)), {});
    REQUIRE_MESSAGE(id.ok(), id.status().ToString());
    ids.push_back(id.value());
  }
  const auto start = Clock::now();
  int max_peers = 0;
  for (int i = 0; i < 4; ++i) {
    const double left = 60 - SecondsSince(start);
    Status st = leechers[i]->WaitFinished(ids[i], left, [&](const TorrentStatus& s) {
      max_peers = std::max(max_peers, s.peers);
    });
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  const double elapsed = SecondsSince(start);
  for (int i = 0; i < 4; ++i) {
    CHECK(SameTree(tmp / "seed/delta", tmp / ("leech" + std::to_string(i)) + "/delta"));
    const TorrentStatus s = leechers[i]->GetStatus(ids[i]);
    CHECK(s.finished);
    CHECK(s.error.empty());
    CHECK(s.hash_failures == 0);
    MESSAGE("leecher " << i << ": up " << s.all_time_upload << " down " << s.all_time_download);
  }
  const TorrentStatus ss = seed->GetStatus(seed_id.value());
  MESSAGE("4 leechers x " << t.payload_bytes << " B in " << elapsed << " s; seed uploaded "
                          << ss.all_time_upload << " B; max peers of a leecher " << max_peers);
  CHECK(ss.seeding);
  CHECK(max_peers >= 2);                              // leechers trade among themselves
  CHECK(ss.all_time_upload < 4 * t.payload_bytes);    // so the seed did not send it all 4 times
  CHECK(elapsed < 60);
}

TEST_CASE("leechers with no peer seed download from an nginx web seed") {
  NginxServer nginx;
  TempDir tmp;
  const std::string dir = nginx.bucket_dir() + "/m/versions/1/delta";
  WritePayload(dir, 12'000'000, 2);
  const std::string web_seed = nginx.url() + "/m/versions/1/";
  // One leecher gets the web seed from the torrent, one per node.
  const TorrentFile in_torrent = Torrent(dir, "delta", {web_seed});
  const TorrentFile bare = Torrent(dir, "delta", {});

  auto a = StartSwarm({});
  auto b = StartSwarm({});
  auto ida = a->AddDownload(in_torrent.bytes, tmp / "a", {});
  auto idb = b->AddDownload(bare.bytes, tmp / "b", {web_seed});
  REQUIRE(ida.ok());
  REQUIRE(idb.ok());
  const auto start = Clock::now();
  Status sa = a->WaitFinished(ida.value(), 30, {});
  REQUIRE_MESSAGE(sa.ok(), sa.ToString());
  Status sb = b->WaitFinished(idb.value(), 30 - SecondsSince(start), {});
  REQUIRE_MESSAGE(sb.ok(), sb.ToString());
  MESSAGE("2 web-seeded leechers x " << bare.payload_bytes << " B in " << SecondsSince(start) << " s");
  CHECK(SameTree(dir, tmp / "a/delta"));
  CHECK(SameTree(dir, tmp / "b/delta"));

  std::ifstream log(nginx.access_log_path());
  std::stringstream text;
  text << log.rdbuf();
  CHECK(text.str().find("GET /m/versions/1/delta/chunk-000000.dsc") != std::string::npos);
  CHECK(text.str().find(" 206 ") != std::string::npos);
}

TEST_CASE("a web seed that serves nothing times out with a clear message") {
  TempDir tmp;
  WritePayload(tmp / "src/delta", 1'000'000, 3);
  const TorrentFile t = Torrent(tmp / "src/delta", "delta", {"http://127.0.0.1:9/nothing/"});
  auto s = StartSwarm({});
  auto id = s->AddDownload(t.bytes, tmp / "dst", {});
  REQUIRE(id.ok());
  Status st = s->WaitFinished(id.value(), 1.0, {});
  CHECK(st.code() == Code::kCancelled);
  CHECK(st.message().find("torrent delta: not finished after 1 s") == 0);
  MESSAGE(st.message());
}

TEST_CASE("an upload limit holds between loopback peers") {
  TempDir tmp;
  WritePayload(tmp / "seed/delta", 10'000'000, 4);
  const TorrentFile t = Torrent(tmp / "seed/delta", "delta", {});
  SwarmOptions so;
  so.upload_rate = 5'000'000;
  auto seed = StartSwarm(so);
  REQUIRE(seed->AddSeed(t.bytes, tmp / "seed").ok());
  SwarmOptions lo;
  lo.peers = {seed->endpoint()};
  auto leecher = StartSwarm(lo);
  auto id = leecher->AddDownload(t.bytes, tmp / "leech", {});
  REQUIRE(id.ok());
  const auto start = Clock::now();
  Status st = leecher->WaitFinished(id.value(), 20, {});
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  const double elapsed = SecondsSince(start);
  MESSAGE(t.payload_bytes << " B at 5 MB/s in " << elapsed << " s");
  CHECK(elapsed >= 1.5);
  CHECK(SameTree(tmp / "seed/delta", tmp / "leech/delta"));
}

TEST_CASE("a download resumes from the files already on disk") {
  TempDir tmp;
  WritePayload(tmp / "seed/delta", 8'000'000, 5);
  const TorrentFile t = Torrent(tmp / "seed/delta", "delta", {});
  // Everything present already: the check finds it complete, with no peer at all.
  fs::copy(tmp / "seed", tmp / "node", fs::copy_options::recursive);
  auto s = StartSwarm({});
  auto id = s->AddDownload(t.bytes, tmp / "node", {});
  REQUIRE(id.ok());
  Status st = s->WaitFinished(id.value(), 10, {});
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(s->GetStatus(id.value()).all_time_download == 0);
  CHECK(s->AddDownload(t.bytes, tmp / "node", {}).status().code() == Code::kAlreadyExists);
  s->Remove(id.value());
  CHECK(s->GetStatus(id.value()).error == "unknown torrent");
}

TEST_CASE("WaitForChange wakes on the session's alerts and on a stop, else at its deadline") {
  TempDir tmp;
  WritePayload(tmp / "seed/delta", 2'000'000, 6);
  const TorrentFile t = Torrent(tmp / "seed/delta", "delta", {});
  fs::copy(tmp / "seed", tmp / "node", fs::copy_options::recursive);
  auto s = StartSwarm({});

  // Adding complete files raises alerts (checked, finished): the wait wakes
  // long before its deadline, and the count taken before the add shows it.
  const uint64_t before = s->AlertCount();
  auto id = s->AddDownload(t.bytes, tmp / "node", {});
  REQUIRE(id.ok());
  auto start = Clock::now();
  while (!s->GetStatus(*id).finished && SecondsSince(start) < 20) {
    const uint64_t seen = s->AlertCount();
    if (s->GetStatus(*id).finished) break;
    s->WaitForChange(seen, Clock::now() + std::chrono::seconds(30));
  }
  CHECK(s->GetStatus(*id).finished);
  CHECK(s->AlertCount() > before);
  CHECK(SecondsSince(start) < 20);

  // Nothing more happens in this session: a stop from another thread ends the wait.
  StopSignal stop;
  std::thread requester([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop.Request();
  });
  start = Clock::now();
  s->WaitForChange(s->AlertCount(), Clock::now() + std::chrono::seconds(30), &stop);
  requester.join();
  CHECK(SecondsSince(start) < 10);

  // Stopped already: at once. Else the deadline ends it.
  start = Clock::now();
  s->WaitForChange(s->AlertCount(), Clock::now() + std::chrono::seconds(30), &stop);
  CHECK(SecondsSince(start) < 10);
  start = Clock::now();
  s->WaitForChange(s->AlertCount(), Clock::now() + std::chrono::milliseconds(200));
  CHECK(SecondsSince(start) < 10);
}
