// A pull along a delta chain into a small filesystem (a tmpfs of its own,
// mounted in a private mount namespace): the free-space check counts what the
// pull keeps, and the chain never holds more than the held version and two
// more, so a pull that passes the check completes.
#include <doctest/doctest.h>

#include <filesystem>

#include "json_lines.h"
#include "test_util.h"

using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

// Runs a shell script as root of a new user and mount namespace, where it may
// mount; its output in tmp/script.{out,err}. The exit code.
int RunInMountNamespace(const TempDir& tmp, const std::string& script) {
  ChildProcess child(SpawnProgram("/usr/bin/unshare", {"--user", "--map-root-user", "--mount", "sh", "-c", script},
                                  tmp / "script.out", tmp / "script.err"));
  return child.Wait(120);
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

TEST_CASE("a three-delta chain into a filesystem with room for three copies: it fits, the intermediates go") {
  TempDir tmp;
  REQUIRE(RunDeltaswarm({"synth", "--params", "1M", "--versions", "3", "-o", tmp / "ckpt", "-q"}).exit_code == 0);
  REQUIRE(RunDeltaswarm({"keygen", "-o", tmp / "key", "-q"}).exit_code == 0);
  for (int v = 0; v <= 3; ++v) {
    RunResult r = RunDeltaswarm({"publish", "--bucket", tmp / "bucket", "--model", "m", "--key", tmp / "key",
                                 "--state", tmp / "state", "--keyframe-every", "10", "-q",
                                 tmp / ("ckpt/v" + std::to_string(v) + "/model.safetensors")});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  const uint64_t target = fs::file_size(tmp / "ckpt/v3/model.safetensors");
  // The held version, two more along the chain, and a little for artifacts
  // and metadata: keeping every intermediate (4 copies) does not fit.
  const uint64_t tmpfs_bytes = target * 7 / 2;
  const std::string pull = std::string(DS_BINARY) + " pull --bucket " + Quoted(tmp / "bucket") +
                           " --model m --trust " + Quoted(tmp / "key.pub") + " --dest " + Quoted(tmp / "store");
  const std::string script =
      "set -e; mkdir -p " + Quoted(tmp / "store") + "; mount -t tmpfs -o size=" + std::to_string(tmpfs_bytes) +
      " tmpfs " + Quoted(tmp / "store") + "; " + pull + " --version 1 -q; " + pull + " --json > " +
      Quoted(tmp / "chain.json") + "; ls " + Quoted(tmp / "store/versions") + " > " + Quoted(tmp / "versions") +
      "; cmp " + Quoted(tmp / "store/current/model.safetensors") + " " +
      Quoted(tmp / "ckpt/v3/model.safetensors");
  const int code = RunInMountNamespace(tmp, script);
  INFO(ReadFileText(tmp / "script.err"));
  REQUIRE(code == 0);
  const auto result = SummaryResult(ReadFileText(tmp / "chain.json"));
  CHECK(result["steps"] == nlohmann::json::array({"delta 2", "delta 3", "delta 4"}));
  CHECK(ReadFileText(tmp / "versions") == "1\n4\n");  // the held version and the new one
}
