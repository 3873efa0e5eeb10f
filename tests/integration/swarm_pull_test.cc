// Nodes pull a version over a real swarm of separate processes: a `seed`
// process and `pull --peer` nodes on 127.0.0.1, with the bucket unable to
// serve chunks (deleted after the seed fetched them), so every chunk crosses
// the swarm; and a lingering pull that SIGTERM or SIGINT ends at once.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster_certificates.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/synth.h"
#include "published_version.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

// Stops (SIGTERM, then SIGKILL) a spawned process on scope exit.
struct Process {
  int pid;
  ~Process() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      if (WaitFor(pid, 10) < 0) KillAndReap(pid);
    }
  }
};

std::string WaitForLine(const std::string& path, double timeout_s) {
  for (int i = 0; i < timeout_s * 10; ++i) {
    std::ifstream f(path);
    std::string line;
    if (f && std::getline(f, line) && !line.empty()) return line;
    ::usleep(100000);
  }
  return "";
}

}  // namespace

TEST_CASE("four nodes pull a version from a seed process over the swarm, byte-identical") {
  TempDir tmp;
  const ClusterCertificates certs;  // a closed swarm: TLS torrents, every role with a certificate
  SynthOptions s;
  s.out_dir = tmp / "ckpt";
  s.params = 5000000;  // 10 MB of bf16
  s.versions = 1;
  s.lr = 1e-5;
  REQUIRE(Synthesize(s, nullptr).ok());
  REQUIRE(GenerateKeyPair(tmp / "key", false).ok());
  for (int v = 0; v <= 1; ++v) {
    auto r = RunDeltaswarm(Concat({"publish", "--bucket", tmp / "bucket", "--model", "m", "--key", tmp / "key",
                                   "--state", tmp / "state", "--keyframe-every", "1", "-q",
                                   tmp / "ckpt/v" + std::to_string(v) + "/model.safetensors"},
                                  certs.PublishFlags()));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }

  Process seed{SpawnDeltaswarm(Concat({"seed", "--bucket", tmp / "bucket", "--model", "m", "--trust", tmp / "key.pub",
                                       "--dir", tmp / "seed", "--listen", "127.0.0.1:0", "--ready-file", tmp / "ready",
                                       "--upload-rate", "20000000", "-q"},
                                      certs.Flags(certs.seed)))};
  std::string endpoint = WaitForLine(tmp / "ready", 60);
  REQUIRE(!endpoint.empty());

  // From here on only the swarm can provide chunks.
  for (auto& e : fs::recursive_directory_iterator(tmp / "bucket/m/versions"))
    if (e.path().extension() == ".dsc") fs::remove(e.path());

  std::vector<int> nodes;
  for (int i = 0; i < 4; ++i)
    nodes.push_back(SpawnDeltaswarm(Concat({"pull", "--bucket", tmp / "bucket", "--model", "m", "--dest",
                                            tmp / ("node" + std::to_string(i)), "--trust", tmp / "key.pub", "--peer",
                                            endpoint, "--listen", "127.0.0.1:0", "--linger", "3", "-q"},
                                           certs.Flags(certs.node))));
  for (int i = 0; i < 4; ++i) CHECK(WaitFor(nodes[i], 120) == 0);
  for (int i = 0; i < 4; ++i)
    CHECK(SameTree(tmp / ("node" + std::to_string(i)) + "/current/model.safetensors",
                   tmp / "ckpt/v1/model.safetensors"));

  auto last = RunDeltaswarm(Concat({"pull", "--bucket", tmp / "bucket", "--model", "m", "--dest", tmp / "late",
                                    "--trust", tmp / "key.pub", "--peer", endpoint, "--listen", "127.0.0.1:0", "--json"},
                                   certs.Flags(certs.node)));
  INFO(last.err);
  REQUIRE(last.exit_code == 0);
  std::string out = last.out.substr(0, last.out.find_last_not_of('\n') + 1);
  auto summary = nlohmann::json::parse(out.substr(out.rfind('\n') + 1));
  REQUIRE(summary["event"] == "summary");
  CHECK(summary["result"]["downloaded_bytes"] == 0);
  CHECK(summary["result"]["swarm_bytes"].get<uint64_t>() > 0);
  // The chunks were proven by the swarm's piece hashes (a torrent the signed
  // manifest lists): of the artifact only the index was hashed, once.
  CHECK(summary["result"]["steps"] == nlohmann::json::array({"keyframe 2"}));
  CHECK(summary["result"]["artifact_hashed_bytes"] == fs::file_size(tmp / "bucket/m/versions/2/keyframe/index.dsi"));
  CHECK(SameTree(tmp / "late/current/model.safetensors", tmp / "ckpt/v1/model.safetensors"));
}

TEST_CASE("SIGTERM or SIGINT ends a pull's --linger at once: exit 0, the version switched, the summary written") {
  int sig = SIGTERM;
  SUBCASE("SIGTERM") {}
  SUBCASE("SIGINT") { sig = SIGINT; }
  Published p("", "", 500'000);
  std::string seed_endpoint;
  ChildProcess seed = p.StartSeed({}, &seed_endpoint);
  ChildProcess pull = p.StartPull("node", FreeTcpPorts(1).front(), {"--peer", seed_endpoint, "--linger", "600"});
  // current is switched just before the linger starts.
  const auto start = std::chrono::steady_clock::now();
  while (!fs::exists(p.tmp / "node/current") && std::chrono::steady_clock::now() - start < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  INFO(p.Err("node"));
  REQUIRE(fs::exists(p.tmp / "node/current"));
  const auto stopped = std::chrono::steady_clock::now();
  ::kill(pull.pid(), sig);
  CHECK(pull.Wait(10) == 0);  // not the 600 s of --linger
  // The linger sleeps on the stop signal: it ends at once; then the swarm session closes.
  CHECK(std::chrono::steady_clock::now() - stopped < std::chrono::seconds(2));
  CHECK(p.Holds("node"));
  const std::string out = ReadFileText(p.tmp / "node.out");
  CHECK(out.find("\"event\":\"summary\"") != std::string::npos);
  CHECK(out.find("\"ok\":true") != std::string::npos);
}
