// Faults in a real swarm of separate processes on 127.0.0.1: (a) a node
// SIGKILLed mid-download does not hold the others up, and on restart resumes
// from the pieces it verified; (b) a peer that answers every request with
// garbage is caught by the hash check and banned, and the pieces come from an
// honest seed; (c) a bucket that lost its chunks (while a seed holds them)
// does not stop nodes from completing over the swarm. Every spawned process is
// owned by a ChildProcess (killed and reaped on any exit from a test case) and
// every wait is bounded.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "deltaswarm/manifest.h"
#include "deltaswarm/synth.h"
#include "nginx_server.h"
#include "roles/bucket_layout.h"
#include "json_lines.h"
#include "published_version.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// corrupt_peer as an insider gone bad (it holds a certificate of the cluster
// CA), seeding version 1 with garbage; *endpoint is where it listens.
ChildProcess StartLiar(Published& p, std::string* endpoint) {
  const IssuedCertificate& insider = p.certs.node;
  ChildProcess liar(SpawnProgram(DS_CORRUPT_PEER,
                                 {"--tls", insider.cert_path, insider.key_path, p.certs.dh(), p.torrent_path(),
                                  p.bucket_dir + "/m/versions/1", p.tmp / "liar.ready"},
                                 p.tmp / "liar.out", p.tmp / "liar.err"));
  *endpoint = WaitForFirstLine(p.tmp / "liar.ready", 15);
  INFO("corrupt_peer stderr: " << ReadFileText(p.tmp / "liar.err"));
  REQUIRE(!endpoint->empty());
  return liar;
}

}  // namespace

TEST_CASE("a node SIGKILLed mid-download: the others finish, and it resumes from its verified pieces") {
  Published p("", "", 12'000'000);  // 24 MB of bf16: a 17.5 MB keyframe (1070 pieces of 16 KiB)
  std::string seed_endpoint;
  ChildProcess seed = p.StartSeed({}, &seed_endpoint);
  p.RemoveChunks();
  const std::vector<int> ports = FreeTcpPorts(4);
  auto peers_of = [&](int i) {
    return std::vector<std::string>{"--peer", seed_endpoint, "--peer", Loopback(ports[(i + 1) % 4]), "--peer",
                                    Loopback(ports[(i + 2) % 4])};
  };
  // Node 0 is slowed down so that the kill lands mid-way; the others are not.
  auto victim_args = peers_of(0);
  victim_args.insert(victim_args.end(), {"--download-rate", "3000000"});
  ChildProcess victim = p.StartPull("victim", ports[0], victim_args);
  std::vector<ChildProcess> others;
  for (int i = 1; i < 4; ++i) {
    auto args = peers_of(i);
    args.insert(args.end(), {"--linger", "1"});
    others.push_back(p.StartPull("node" + std::to_string(i), ports[i], args));
  }

  // Kill it once it has verified 60 % of the payload (bounded wait).
  const auto start = Clock::now();
  uint64_t done = 0, total = 0;
  while (SecondsSince(start) < 30) {
    done = LastProgress(ReadFileText(p.tmp / "victim.out"), "swarm", &total);
    if (total > 0 && done >= total / 10 * 6) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  victim.Kill();
  MESSAGE("victim killed after " << SecondsSince(start) << " s with " << done << " of " << total << " B verified");
  INFO("victim stderr: " << p.Err("victim"));
  REQUIRE(total == p.payload_bytes());
  REQUIRE(done >= total / 10 * 6);
  REQUIRE(done < total);  // mid-download, not after
  CHECK(!fs::exists(p.tmp / "victim/current"));

  for (int i = 1; i < 4; ++i) {
    const std::string name = "node" + std::to_string(i);
    INFO(name << " stderr: " << p.Err(name));
    CHECK(others[i - 1].Wait(std::max(1.0, 60 - SecondsSince(start))) == 0);
    CHECK(p.Holds(name));
  }

  // Restarted (unlimited now), it fetches only what it had not verified.
  fs::remove(p.tmp / "victim.out");
  ChildProcess again = p.StartPull("victim", ports[0], {"--peer", seed_endpoint});
  const int code = again.Wait(60);
  INFO("victim stderr: " << p.Err("victim"));
  REQUIRE(code == 0);
  CHECK(p.Holds("victim"));
  const auto result = SummaryResult(ReadFileText(p.tmp / "victim.out"));
  const uint64_t swarm_bytes = U64(result, "swarm_bytes");
  MESSAGE("restarted victim received " << swarm_bytes << " B of " << total);
  CHECK(U64(result, "downloaded_bytes") == 0);
  CHECK(swarm_bytes > 0);
  // Clearly less than the whole payload. Not exactly total - done: libtorrent
  // hashes a piece while its blocks may still wait to be written, so the
  // last pieces verified before the kill can be lost (up to 15 % of this
  // payload was, with two cores busy).
  CHECK(swarm_bytes < total * 8 / 10);
}

TEST_CASE("peers sending corrupt data fail the hash check, and no node dies of it over 50 rounds") {
  Published p("", "", 1'000'000);  // 2 MB
  // The honest seed is slow, so each node asks the fast liar for pieces too;
  // libtorrent's default seed (--no-share) offers every piece at once, so
  // that the liar is asked for many (the share seed's case is below).
  std::string seed_endpoint;
  ChildProcess seed = p.StartSeed({"--upload-rate", "8000000", "--no-share"}, &seed_endpoint);
  std::string liar_endpoint;
  ChildProcess liar = StartLiar(p, &liar_endpoint);

  // A v2-only torrent made libtorrent 2.0.8 die of SIGSEGV (or corrupt its
  // heap) in 10-50 % of such pulls (hash_picker::hashes_rejected, see
  // src/swarm/torrent_maker.cc); the published torrents are hybrid, so every
  // one of these pulls must live. At least 50 rounds, 10 pulls at a time, each
  // a fresh process that gets corrupt blocks, fails their hash check, bans the liar
  // and completes from the seed. 60 pulls: a pull that restarted its
  // download (its peers gone) reports only the failures after the restart.
  constexpr int kWaves = 6, kPerWave = 10;
  int rounds = 0, hash_failures = 0, deaths = 0;
  for (int wave = 0; wave < kWaves; ++wave) {
    const std::vector<int> ports = FreeTcpPorts(kPerWave);
    std::vector<ChildProcess> nodes;
    std::vector<std::string> names;
    for (int i = 0; i < kPerWave; ++i) {
      names.push_back("node" + std::to_string(wave) + "-" + std::to_string(i));
      nodes.push_back(p.StartPull(names.back(), ports[i], {"--peer", liar_endpoint, "--peer", seed_endpoint,
                                                           "--fallback-after", "-1"}));
    }
    for (int i = 0; i < kPerWave; ++i) {
      const int code = nodes[i].Wait(90);
      const auto events = JsonLines(ReadFileText(p.tmp / (names[i] + ".out")));
      INFO(names[i] << " stderr: " << p.Err(names[i]) << "; last event: " << (events.empty() ? "" : events.back().dump()));
      if (code >= 128) ++deaths;
      CHECK(code == 0);
      CHECK(p.Holds(names[i]));
      const auto result = SummaryResult(ReadFileText(p.tmp / (names[i] + ".out")));
      CHECK(U64(result, "downloaded_bytes") == 0);  // every verified byte came over the swarm
      const int failures = result.contains("hash_failures") ? result["hash_failures"].get<int>() : 0;
      if (failures >= 1) ++rounds;
      hash_failures += failures;
    }
  }
  MESSAGE(rounds << " pulls got corrupt blocks (" << hash_failures << " hash failures); " << deaths << " died");
  CHECK(deaths == 0);
  CHECK(rounds >= 50);

  liar.Stop();  // SIGTERM: it reports how many garbage blocks it sent
  const std::string said = ReadFileText(p.tmp / "liar.out");
  MESSAGE("corrupt_peer: " << said);
  CHECK(said.find("corrupt blocks sent: ") != std::string::npos);
  CHECK(said.find("corrupt blocks sent: 0\n") == std::string::npos);
}

TEST_CASE("a peer claiming every piece does not hold up the share seed") {
  Published p("", "", 1'000'000);  // 2 MB
  std::string seed_endpoint;
  ChildProcess seed = p.StartSeed({"--upload-rate", "8000000"}, &seed_endpoint);
  std::string liar_endpoint;
  ChildProcess liar = StartLiar(p, &liar_endpoint);
  // The liar claims every piece (HAVE_ALL) and serves garbage. A share seed
  // that took such a claim as placement sent nothing until a 5 s stall rule
  // fired (a 13-piece pull took 23.4 s instead of 0.6 s); claims now count
  // for nothing (share_scheduler_test), and end to end the pulls take about
  // the time of their bytes.
  const std::vector<int> ports = FreeTcpPorts(3);
  std::vector<ChildProcess> nodes;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i)
    nodes.push_back(p.StartPull("node" + std::to_string(i), ports[i],
                                {"--peer", liar_endpoint, "--peer", seed_endpoint, "--fallback-after", "-1"}));
  for (int i = 0; i < 3; ++i) {
    INFO("node" << i << " stderr: " << p.Err("node" + std::to_string(i)));
    CHECK(nodes[i].Wait(60) == 0);
    CHECK(p.Holds("node" + std::to_string(i)));
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("3 pulls of 2 MB with a liar in the swarm: " << took << " s");
  // About 2 s on a quiet machine (start-up, TLS, 2 MB at 8 MB/s); up to 15 s
  // on a loaded 2-core CI machine, where a stalled pull's restarts back off
  // 2 + 4 + 8 s. With claims counted as placement the seed waited out its
  // stall rule for every batch of this pull's 128 pieces: far beyond 20 s
  // (a 13-piece pull took 23.4 s).
  CHECK(took < 20);
}

TEST_CASE("with the bucket's chunks gone, nodes still complete from peers that hold them") {
  NginxServer nginx;
  Published p(nginx.url(), nginx.bucket_dir(), 2'500'000);
  std::string seed_endpoint;
  ChildProcess seed = p.StartSeed({}, &seed_endpoint);
  // The seed fetched its chunks over HTTP; now the bucket has none (404), so
  // the web seed the nodes add at once (--fallback-after 0) cannot help.
  p.RemoveChunks();
  const std::vector<int> ports = FreeTcpPorts(4);
  std::vector<ChildProcess> nodes;
  for (int i = 0; i < 4; ++i)
    nodes.push_back(p.StartPull("node" + std::to_string(i), ports[i],
                                {"--peer", seed_endpoint, "--peer", Loopback(ports[(i + 1) % 4]), "--fallback-after",
                                 "0", "--linger", "1"}));
  const auto start = Clock::now();
  for (int i = 0; i < 4; ++i) {
    const std::string name = "node" + std::to_string(i);
    const int code = nodes[i].Wait(std::max(1.0, 60 - SecondsSince(start)));
    INFO(name << " stderr: " << p.Err(name));
    CHECK(code == 0);
    CHECK(p.Holds(name));
    CHECK(U64(SummaryResult(ReadFileText(p.tmp / (name + ".out"))), "downloaded_bytes") == 0);
  }
  // The nodes did ask the bucket for chunks, and got nothing.
  const std::string log = ReadFileText(nginx.access_log_path());
  int chunk_requests = 0, chunk_404 = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("GET /m/versions/1/keyframe/chunk-") == std::string::npos) continue;
    ++chunk_requests;
    if (line.find("\" 404 ") != std::string::npos) ++chunk_404;
  }
  MESSAGE("chunk requests to the bucket: " << chunk_requests << ", answered 404: " << chunk_404);
}
