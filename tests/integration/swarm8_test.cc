// Eight nodes, each a separate `deltaswarm pull` process on 127.0.0.1, pull
// one version over a real libtorrent swarm and end byte-identical to the
// publisher's checkpoint: (a) from one `seed` process, with the chunks gone
// from the directory bucket, every node knowing only the seed and two other
// nodes; (b) from an nginx bucket as the only web seed, no seed process; (c)
// finding each other only through a real opentracker, no --peer at all.
// Every spawned process is owned by a ChildProcess (killed and reaped on any
// exit from a test case) and every wait is bounded.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "deltaswarm/manifest.h"
#include "deltaswarm/synth.h"
#include "nginx_server.h"
#include "opentracker_server.h"
#include "roles/bucket_layout.h"
#include "published_version.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kNodes = 8;
constexpr double kNodesTimeoutS = 60;  // all nodes together

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The `summary` object of a --json run's stdout, or null.
nlohmann::json Summary(const std::string& out) {
  size_t end = out.find_last_not_of('\n');
  if (end == std::string::npos) return nullptr;
  size_t begin = out.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  auto j = nlohmann::json::parse(out.substr(begin, end + 1 - begin), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("event", "") != "summary") return nullptr;
  return j;
}

// Starts kNodes pull processes on fixed ports (node i at ports[i]), each with
// extra_for(i) appended; waits for all (bounded), then checks each ended 0 and
// holds the publisher's checkpoint byte for byte. Returns the summaries.
std::vector<nlohmann::json> RunNodes(Published& p, const std::vector<int>& ports,
                                     const std::function<std::vector<std::string>(int)>& extra_for) {
  const auto start = Clock::now();
  std::vector<ChildProcess> nodes;
  for (int i = 0; i < kNodes; ++i) {
    const std::string name = "node" + std::to_string(i);
    std::vector<std::string> args = {"pull",    "--bucket", p.bucket,        "--model", "m",
                                     "--dest",  p.tmp / name, "--trust",     p.key_pub(), "--listen",
                                     Loopback(ports[i]), "-j", "1",            "--json"};
    args = Concat(Concat(args, p.certs.Flags(p.certs.node)), extra_for(i));
    nodes.emplace_back(SpawnDeltaswarmTo(args, p.tmp / (name + ".out"), p.tmp / (name + ".err")));
  }
  std::vector<int> codes;
  for (auto& n : nodes) codes.push_back(n.Wait(std::max(1.0, kNodesTimeoutS - SecondsSince(start))));
  MESSAGE(kNodes << " nodes x " << p.payload_bytes() << " B done in " << SecondsSince(start) << " s");
  std::vector<nlohmann::json> summaries;
  for (int i = 0; i < kNodes; ++i) {
    const std::string name = "node" + std::to_string(i);
    INFO(name << " stderr: " << ReadFileText(p.tmp / (name + ".err")));
    CHECK(codes[i] == 0);
    CHECK(SameTree(p.tmp / (name + "/current/model.safetensors"), p.checkpoint()));
    summaries.push_back(Summary(ReadFileText(p.tmp / (name + ".out"))));
    CHECK(summaries.back().is_object());
    if (summaries.back().is_null()) summaries.back() = nlohmann::json::object();
  }
  return summaries;
}

// Node i knows nodes i-1 and i-2 (a ring: bounded lists, never all-to-all).
std::vector<std::string> NeighbourPeers(const std::vector<int>& ports, int i) {
  return {"--peer", Loopback(ports[(i + kNodes - 1) % kNodes]), "--peer", Loopback(ports[(i + kNodes - 2) % kNodes])};
}

uint64_t U64(const nlohmann::json& summary, const char* field) {
  const auto& r = summary.value("result", nlohmann::json::object());
  return r.contains(field) && r[field].is_number_unsigned() ? r[field].get<uint64_t>() : ~uint64_t{0};
}

}  // namespace

TEST_CASE("8 node processes pull from one seed process with bounded peer lists, byte-identical") {
  Published p("", "", 2'500'000);  // 5 MB of bf16
  std::string seed_endpoint;
  // The seed's upload is limited so that nodes also trade among themselves.
  ChildProcess seed = p.StartSeed({"--upload-rate", "10000000", "--json"}, &seed_endpoint);
  p.RemoveChunks();
  const std::vector<int> ports = FreeTcpPorts(kNodes);
  auto summaries = RunNodes(p, ports, [&](int i) {
    auto peers = NeighbourPeers(ports, i);
    peers.insert(peers.begin(), {"--peer", seed_endpoint, "--linger", "2"});
    return peers;
  });
  uint64_t swarm_total = 0;
  for (const auto& s : summaries) {
    CHECK(U64(s, "downloaded_bytes") == 0);  // nothing from the bucket: it has no chunks
    CHECK(U64(s, "swarm_bytes") >= p.payload_bytes());
    swarm_total += U64(s, "swarm_bytes");
  }
  MESSAGE("nodes received " << swarm_total << " B over the swarm for " << kNodes << " x " << p.payload_bytes());
  seed.Stop();
  // The share seed sent each piece about once (libtorrent's default seed sends
  // 1.7-2x here and more on so few pieces); its last "upload" event says so.
  uint64_t uploaded = 0, payload = 0;
  std::istringstream lines(ReadFileText(p.tmp / "seed.out"));
  for (std::string line; std::getline(lines, line);) {
    auto ev = nlohmann::json::parse(line, nullptr, false);
    if (ev.is_object() && ev.value("phase", "") == "upload") {
      uploaded = ev.value("done_bytes", uint64_t{0});
      payload = ev.value("total_bytes", uint64_t{0});
    }
  }
  INFO("seed uploaded " << uploaded << " B of " << payload << " B");
  CHECK(payload > 0);
  CHECK(uploaded >= payload * 99 / 100);
  CHECK(uploaded <= payload * 3 / 2);
}

TEST_CASE("8 node processes pull with an nginx bucket as the only web seed, byte-identical") {
  NginxServer nginx;
  Published p(nginx.url(), nginx.bucket_dir(), 2'500'000);
  const std::vector<int> ports = FreeTcpPorts(kNodes);
  // No seed process: --fallback-after 0 adds the bucket as web seed at once.
  auto summaries = RunNodes(p, ports, [&](int i) {
    auto peers = NeighbourPeers(ports, i);
    peers.insert(peers.end(), {"--fallback-after", "0", "--linger", "1"});
    return peers;
  });
  for (const auto& s : summaries) {
    CHECK(U64(s, "downloaded_bytes") == 0);  // the swarm (web seed) fetched it all, nothing after
    CHECK(U64(s, "swarm_bytes") >= p.payload_bytes());
  }
  const std::string log = ReadFileText(nginx.access_log_path());
  CHECK(log.find("GET /m/versions/1/keyframe/chunk-000000.dsc") != std::string::npos);
  CHECK(log.find(" 206 ") != std::string::npos);  // libtorrent's range requests
}

TEST_CASE("8 node processes find a seed and each other through opentracker alone, byte-identical") {
  Published p("", "", 2'500'000);
  OpentrackerServer tracker({p.info_hash()});
  std::string seed_endpoint;
  ChildProcess seed = p.StartSeed({"--tracker", tracker.announce_url()}, &seed_endpoint);
  // The nodes get no peer list, so wait (bounded) until the tracker lists the seed.
  const auto start = Clock::now();
  while (tracker.Scrape(p.info_hash()).complete < 1 && SecondsSince(start) < 15)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(tracker.Scrape(p.info_hash()).complete >= 1);
  MESSAGE("seed announced after " << SecondsSince(start) << " s");
  p.RemoveChunks();
  const std::vector<int> ports = FreeTcpPorts(kNodes);
  auto summaries = RunNodes(p, ports, [&](int) {
    return std::vector<std::string>{"--tracker", tracker.announce_url(), "--linger", "2"};
  });
  for (const auto& s : summaries) {
    CHECK(U64(s, "downloaded_bytes") == 0);
    CHECK(U64(s, "swarm_bytes") >= p.payload_bytes());
  }
  seed.Stop();
}
