// The built program reads config files: publish, pull (as the MPI and Slurm
// launchers run it) and gateway take --config, flags win over the file, a bad
// file is exit 2 naming its line, and --help lists the keys.
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "deltaswarm/config.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

nlohmann::json Summary(const RunResult& r) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  size_t end = r.out.find_last_not_of('\n');
  REQUIRE(end != std::string::npos);
  size_t start = r.out.rfind('\n', end);
  auto j = nlohmann::json::parse(r.out.substr(start == std::string::npos ? 0 : start + 1, end + 1));
  REQUIRE(j["event"] == "summary");
  return j;
}

// A small checkpoint directory; seed varies its contents.
void WriteCheckpoint(const std::string& dir, uint64_t seed) {
  std::filesystem::create_directories(dir);
  WriteSafetensors(dir + "/model.safetensors", {{"w", "BF16", {256, 64}, RandomBytes(256 * 64 * 2, seed)}});
}

// A key pair, two checkpoints (tmp/v1, tmp/v2) and a directory bucket.
struct PublishedBucket {
  TempDir tmp;
  std::string bucket = tmp / "bucket";
  std::string key = tmp / "key";

  PublishedBucket() {
    REQUIRE(RunDeltaswarm({"keygen", "-o", key, "-q"}).exit_code == 0);
    WriteCheckpoint(tmp / "v1", 1);
    WriteCheckpoint(tmp / "v2", 2);
  }

  // Publishes tmp/v1 as version 1 of model m, with flags only.
  void PublishFirst() {
    RunResult r = RunDeltaswarm(
        {"publish", "--bucket", bucket, "--model", "m", "--key", key, "--state", tmp / "state", tmp / "v1", "-q"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
};

}  // namespace

TEST_CASE("publish --config: the file gives the settings, the argument or the key the checkpoint") {
  PublishedBucket p;
  WriteText(p.tmp / "publisher.yaml", "bucket: " + p.bucket + "\nmodel: m\nkey: " + p.key + "\nstate: " +
                                          p.tmp / "state" + "\nkeyframe_every: 1\nframe_bytes: 8192\n");
  auto first = Summary(RunDeltaswarm({"publish", "--config", p.tmp / "publisher.yaml", p.tmp / "v1",
                                      "--json"}));
  CHECK(first["ok"] == true);
  CHECK(first["result"]["version"] == 1);

  // checkpoint from the file; a flag overrides the model; keyframe_every: 1
  // gives version 2 a keyframe as well.
  WriteText(p.tmp / "publisher2.yaml", ReadFileText(p.tmp / "publisher.yaml") + "checkpoint: " +
                                           p.tmp / "v2" + "\nmodel: not-this-one\n");
  auto repeated = RunDeltaswarm({"publish", "--config", p.tmp / "publisher2.yaml", "-q"});
  CHECK(repeated.exit_code == 2);
  CHECK(repeated.err.find("publisher2.yaml:8: key 'model' repeated") != std::string::npos);
  WriteText(p.tmp / "publisher2.yaml",
            ReadFileText(p.tmp / "publisher.yaml") + "checkpoint: " + p.tmp / "v2" + "\n");
  auto second = Summary(RunDeltaswarm({"publish", "--config", p.tmp / "publisher2.yaml", "--json"}));
  CHECK(second["result"]["version"] == 2);
  CHECK(second["result"]["keyframe_bytes"].get<uint64_t>() > 0);
  CHECK(second["result"]["delta_bytes"].get<uint64_t>() > 0);

  // Without --config the flags work as before, and a missing one is named.
  auto missing = RunDeltaswarm({"publish", "--bucket", p.bucket, "--model", "m", p.tmp / "v2", "-q"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("--key is required") != std::string::npos);

  // pull as the MPI and Slurm launchers run it: configs/cluster-node.yaml,
  // with bucket, model, trust, dest, listen, peers, fallback and linger as flags.
  auto pulled = Summary(RunDeltaswarm({"pull",      "--bucket",         p.bucket, "--model", "m",
                                       "--trust",   p.key + ".pub",     "--dest", p.tmp / "node",
                                       "--linger",  "0",                "--config",
                                       std::string(DS_CONFIGS_DIR) + "/cluster-node.yaml", "--json"}));
  CHECK(pulled["ok"] == true);
  CHECK(pulled["result"]["to_version"] == 2);
  CHECK(SameTree(p.tmp / "v2/model.safetensors", p.tmp / "node/current/model.safetensors"));
}

TEST_CASE("gateway --config --once: a flag supplies the missing dir; a bad file names its line") {
  PublishedBucket p;
  p.PublishFirst();
  std::string file = p.tmp / "gateway.yaml";
  WriteText(file, "bucket: " + p.bucket + "\nmodel: m\ntrust: [" + p.key + ".pub]\nkeep: 2\n");

  auto missing = RunDeltaswarm({"gateway", "--config", file, "--once", "-q"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find(file + ":1: missing required key 'dir'") != std::string::npos);

  auto synced = Summary(RunDeltaswarm({"gateway", "--config", file, "--dir", p.tmp / "gw", "--once", "--json"}));
  CHECK(synced["ok"] == true);
  CHECK(synced["result"]["latest"] == 1);
  CHECK(synced["result"]["held"] == nlohmann::json::array({1}));

  WriteText(file, ReadFileText(file) + "share: no\n");
  auto wrong_type = RunDeltaswarm({"gateway", "--config", file, "--dir", p.tmp / "gw", "--once", "-q"});
  CHECK(wrong_type.exit_code == 2);
  CHECK(wrong_type.err.find(file + ":5: share: expected true or false, got 'no'") != std::string::npos);
}

TEST_CASE("gateway: --http and --listen win over the file's addresses") {
  PublishedBucket p;
  p.PublishFirst();
  std::vector<int> ports = FreeTcpPorts(2);
  const std::string http = "127.0.0.1:" + std::to_string(ports[0]);
  const std::string swarm = "127.0.0.1:" + std::to_string(ports[1]);
  std::string file = p.tmp / "gateway.yaml";
  WriteText(file, "bucket: " + p.bucket + "\nmodel: m\ntrust: [" + p.key + ".pub]\ndir: " + p.tmp / "gw" +
                      "\nhttp_listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\npoll_interval_s: 0.2\n");
  ChildProcess gateway(SpawnDeltaswarmTo(
      {"gateway", "--config", file, "--http", http, "--listen", swarm, "--ready-file", p.tmp / "ready", "--json"},
      p.tmp / "out", p.tmp / "err"));
  std::string endpoint = WaitForFirstLine(p.tmp / "ready", 30);
  INFO(ReadFileText(p.tmp / "err"));
  CHECK(endpoint == swarm);
  CHECK(ReadFileText(p.tmp / "ready") == swarm + "\nhttp://" + http + "/\n");
  ::kill(gateway.pid(), SIGTERM);
  CHECK(gateway.Wait(30) == 0);

  const std::string out = ReadFileText(p.tmp / "out");
  auto summary = Summary(RunResult{0, out, ""});
  CHECK(summary["result"]["endpoint"] == swarm);
  CHECK(summary["result"]["http_url"] == "http://" + http + "/");
  // One JSON line per event; "ready" first, with both addresses.
  auto ready = nlohmann::json::parse(out.substr(0, out.find('\n')));
  CHECK(ready["event"] == "gateway");
  CHECK(ready["type"] == "ready");
  CHECK(ready["endpoint"] == swarm);
  CHECK(ready["http_url"] == "http://" + http + "/");
}

TEST_CASE("--help lists every config key with its default, for each command with a config") {
  std::vector<std::pair<std::string, std::string>> commands = {{"node", DescribeConfig<NodeOptions>()},
                                                               {"gateway", DescribeConfig<GatewayOptions>()},
                                                               {"publish", DescribeConfig<PublishOptions>()},
                                                               {"pull", DescribeConfig<PullOptions>()}};
  for (const auto& [command, keys] : commands) {
    INFO(command);
    RunResult r = RunDeltaswarm({command, "--help"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("--config") != std::string::npos);
    CHECK(r.out.find(keys) != std::string::npos);
  }
}
