// The share seed at a scale where each node waits long for its share: 32
// node processes and one seed, every process uploading at 2 MB/s, a 16 MB
// keyframe. Each node knows only the seed and two other nodes. The swarm
// must finish near the fluid lower bound while the seed sends each byte
// about once (issue 9: with fixed 5 s rules this took 3-4x the bound and the
// seed sent the payload 1.2-3.7 times).
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "json_lines.h"
#include "published_version.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kNodes = 32;
constexpr int kRate = 2'000'000;  // bytes/s, every process
double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Whether a pull's --json stdout so far shows its swarm download complete.
bool SwarmDone(const std::string& stdout_path) {
  uint64_t total = 0;
  const uint64_t done = LastProgress(ReadFileText(stdout_path), "swarm", &total);
  return total > 0 && done >= total;
}

}  // namespace

TEST_CASE("32 nodes at 2 MB/s finish within 1.5x the fluid bound, the seed sending about 1x the payload") {
  // An open swarm: this measures the scheduler, not TLS (tls_swarm_test covers that).
  Published p("", "", 11'500'000, SwarmAccess::kOpen);  // a 16 MB keyframe
  std::string seed_endpoint;
  ChildProcess seed = p.StartSeed({"--upload-rate", std::to_string(kRate), "--json"}, &seed_endpoint);
  p.RemoveChunks();  // nothing from the bucket
  const std::vector<int> ports = FreeTcpPorts(kNodes);
  std::vector<ChildProcess> nodes;
  std::vector<std::string> outs;
  for (int i = 0; i < kNodes; ++i) {
    const std::string name = "node" + std::to_string(i);
    outs.push_back(p.tmp / (name + ".out"));
    std::vector<std::string> args = {"pull", "--bucket", p.bucket, "--model", "m", "--dest", p.tmp / name,
                                     "--trust", p.key_pub(), "--listen", Loopback(ports[i]), "-j", "1",
                                     "--upload-rate", std::to_string(kRate), "--fallback-after", "-1",
                                     "--linger", "600", "--json", "--peer", seed_endpoint,
                                     "--peer", Loopback(ports[(i + 1) % kNodes]),
                                     "--peer", Loopback(ports[(i + 2) % kNodes])};
    nodes.emplace_back(SpawnDeltaswarmTo(args, outs.back(), p.tmp / (name + ".err")));
  }
  const auto t0 = Clock::now();  // every node process started, as bench_swarm.py counts
  const double F = static_cast<double>(p.payload_bytes());
  const double bound = std::max(F / kRate, kNodes * F / (kRate + kNodes * double{kRate}));
  std::vector<bool> done(kNodes, false);
  int finished = 0;
  double T = 0;
  while (finished < kNodes && SecondsSince(t0) < 10 * bound + 30) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (int i = 0; i < kNodes; ++i) {
      if (done[i] || !SwarmDone(outs[i])) continue;
      done[i] = true;
      ++finished;
      T = SecondsSince(t0);
    }
  }
  REQUIRE(finished == kNodes);
  // Then each applies and switches (32 applies on a few cores take a while),
  // and lingers: stopped once its version is current.
  const auto applying = Clock::now();
  for (int i = 0; i < kNodes; ++i) {
    const std::string current = p.tmp / ("node" + std::to_string(i) + "/current/model.safetensors");
    while (!std::filesystem::exists(current) && SecondsSince(applying) < 120)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    nodes[i].Stop();
  }
  seed.Stop();
  const double seed_x = static_cast<double>(LastProgress(ReadFileText(p.tmp / "seed.out"), "upload")) / F;
  MESSAGE(kNodes << " nodes x " << F / 1e6 << " MB at " << kRate / 1e6 << " MB/s: T = " << T << " s, bound " << bound
                 << " s, T/bound " << T / bound << ", seed upload " << seed_x << " F");
  for (int i = 0; i < kNodes; ++i) {
    const std::string name = "node" + std::to_string(i);
    INFO(name << " stderr: " << ReadFileText(p.tmp / (name + ".err")));
    CHECK(SameTree(p.tmp / (name + "/current/model.safetensors"), p.checkpoint()));
  }
  CHECK(T <= 1.5 * bound);
  CHECK(seed_x >= 0.99);
  CHECK(seed_x <= 1.1);
}
