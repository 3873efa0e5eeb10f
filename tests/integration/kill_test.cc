// Processes killed at arbitrary moments leave buckets and nodes consistent:
// refs/latest names a complete version, a node keeps its old version intact,
// and the next run completes.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "deltaswarm/manifest.h"
#include "deltaswarm/synth.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

struct Setup {
  TempDir tmp;
  Setup() {
    SynthOptions s;
    s.out_dir = tmp / "ckpt";
    s.params = 20000000;  // 40 MB of bf16: long enough to be caught mid-way
    s.versions = 2;
    s.lr = 1e-4;          // dense changes: a slow, large delta
    REQUIRE(Synthesize(s, nullptr).ok());
    REQUIRE(GenerateKeyPair(tmp / "key", false).ok());
  }
  std::vector<std::string> Publish(int v) {
    return {"publish", "--bucket", tmp / "bucket", "--model", "m", "--key", tmp / "key", "--state",
            tmp / "state", "--keyframe-every", "1", "-q", tmp / "ckpt/v" + std::to_string(v) + "/model.safetensors"};
  }
  std::vector<std::string> Pull(const std::string& dest) {
    return {"pull", "--bucket", tmp / "bucket", "--model", "m", "--dest", tmp / dest, "--trust", tmp / "key.pub", "-q"};
  }
  int Latest() {
    auto b = ReadBytes(tmp / "bucket/m/refs/latest");
    return std::stoi(std::string(b.begin(), b.end()));
  }
  std::string Ckpt(int version) { return tmp / "ckpt/v" + std::to_string(version - 1) + "/model.safetensors"; }
};

}  // namespace

TEST_CASE("a publisher killed halfway leaves refs/latest on a complete version") {
  Setup s;
  REQUIRE(RunDeltaswarm(s.Publish(0)).exit_code == 0);
  for (int delay_ms : {150, 400, 800}) {
    int pid = SpawnDeltaswarm(s.Publish(1));
    ::usleep(delay_ms * 1000);
    KillAndReap(pid);
    int latest = s.Latest();
    CHECK((latest == 1 || latest == 2));
    auto r = RunDeltaswarm(s.Pull("node" + std::to_string(delay_ms)));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(SameTree(s.tmp / "node" + std::to_string(delay_ms) + "/current/model.safetensors", s.Ckpt(latest)));
    if (latest == 2) break;
  }
  // Publishing again completes (whatever the killed run left).
  auto again = RunDeltaswarm(s.Publish(2));
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  auto r = RunDeltaswarm(s.Pull("final"));
  REQUIRE(r.exit_code == 0);
  CHECK(SameTree(s.tmp / "final/current/model.safetensors", s.tmp / "ckpt/v2/model.safetensors"));
}

TEST_CASE("a node killed while pulling keeps its old version and completes next time") {
  Setup s;
  REQUIRE(RunDeltaswarm(s.Publish(0)).exit_code == 0);
  REQUIRE(RunDeltaswarm(s.Pull("node")).exit_code == 0);
  auto v1 = ReadBytes(s.tmp / "node/current/model.safetensors");
  REQUIRE(RunDeltaswarm(s.Publish(1)).exit_code == 0);
  for (int delay_ms : {100, 300, 600}) {
    int pid = SpawnDeltaswarm(s.Pull("node"));
    ::usleep(delay_ms * 1000);
    KillAndReap(pid);
    auto now = ReadBytes(s.tmp / "node/current/model.safetensors");
    // Either untouched, or already switched to a verified version 2.
    CHECK((now == v1 || now == ReadBytes(s.Ckpt(2))));
  }
  auto r = RunDeltaswarm(s.Pull("node"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(SameTree(s.tmp / "node/current/model.safetensors", s.Ckpt(2)));
  for (auto& e : fs::recursive_directory_iterator(s.tmp / "node"))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}
