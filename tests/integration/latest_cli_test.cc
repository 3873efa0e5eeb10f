// The signed latest from the command line: publish --seed keeps it fresh,
// pull warns about an expired one or refuses it with --require-fresh, a node
// reports it once (stale_latest), and --refresh-latest re-signs it.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "deltaswarm/latest.h"
#include "json_lines.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

using Clock = std::chrono::steady_clock;

struct Published {
  TempDir tmp;
  Published() {
    WriteSafetensors(tmp / "model.safetensors", {{"w", "BF16", {4096}, RandomBytes(8192, 7)}});
    REQUIRE(RunDeltaswarm({"keygen", "-o", tmp / "key", "-q"}).exit_code == 0);
  }
  std::vector<std::string> Publish(const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {"publish", "--bucket", tmp / "bucket", "--model", "m", "--key", tmp / "key",
                                     "--state", tmp / "state"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  std::vector<std::string> Pull(const std::string& dest, const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"pull", "--bucket", tmp / "bucket", "--model", "m", "--trust",
                                     tmp / "key.pub", "--dest", tmp / dest};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  LatestStatement Latest() const {
    auto bytes = ReadBytes(tmp / "bucket/m/refs/latest");
    auto s = ParseLatest(std::as_bytes(std::span(bytes)), "latest");
    REQUIRE_MESSAGE(s.ok(), s.status().message());
    return *s;
  }
};

}  // namespace

TEST_CASE("an expired latest: pull warns, --require-fresh exits 6 in one line, --refresh-latest makes it fresh") {
  Published p;
  RunResult pub = RunDeltaswarm(p.Publish({"--latest-valid", "1", "-q", p.tmp / "model.safetensors"}));
  REQUIRE_MESSAGE(pub.exit_code == 0, pub.err);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  RunResult strict = RunDeltaswarm(p.Pull("strict", {"--require-fresh"}));
  CHECK(strict.exit_code == 6);
  CHECK(strict.err.find("expired at") != std::string::npos);
  CHECK(strict.err.find("(--require-fresh)") != std::string::npos);
  CHECK(std::count(strict.err.begin(), strict.err.end(), '\n') == 1);
  RunResult lenient = RunDeltaswarm(p.Pull("lenient", {"--json"}));
  REQUIRE_MESSAGE(lenient.exit_code == 0, lenient.err);
  CHECK(lenient.err.rfind("warning: ", 0) == 0);
  CHECK(SummaryResult(lenient.out).value("stale_latest", "").find("expired at") != std::string::npos);
  RunResult refresh = RunDeltaswarm(p.Publish({"--refresh-latest", "--json"}));
  REQUIRE_MESSAGE(refresh.exit_code == 0, refresh.err);
  CHECK(SummaryResult(refresh.out).value("version", 0) == 1);
  CHECK(p.Latest().expires - p.Latest().issued == 86400);
  RunResult fresh = RunDeltaswarm(p.Pull("strict", {"--require-fresh"}));
  CHECK_MESSAGE(fresh.exit_code == 0, fresh.err);
  // --refresh-latest takes no checkpoint.
  RunResult both = RunDeltaswarm(p.Publish({"--refresh-latest", p.tmp / "model.safetensors"}));
  CHECK(both.exit_code == 2);
}

TEST_CASE("publish --seed re-signs the latest at half its validity while it seeds") {
  Published p;
  ChildProcess seed(SpawnDeltaswarmTo(p.Publish({"--seed", "--listen", "127.0.0.1:0", "--latest-valid", "2", "--json",
                                                 p.tmp / "model.safetensors"}),
                                      p.tmp / "seed.out", p.tmp / "seed.err"));
  // Signed at publish, then again about every second: wait for two re-signs.
  int resigned = 0;
  for (auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until && resigned < 2;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    resigned = 0;
    for (const auto& j : JsonLines(ReadFileText(p.tmp / "seed.out")))
      if (j.value("event", "") == "latest_signed") ++resigned;
  }
  REQUIRE_MESSAGE(resigned >= 2, ReadFileText(p.tmp / "seed.err"));
  LatestStatement s = p.Latest();
  CHECK(s.version == 1);
  CHECK(s.expires > static_cast<int64_t>(std::time(nullptr)));
  RunResult fresh = RunDeltaswarm(p.Pull("node", {"--require-fresh"}));
  CHECK_MESSAGE(fresh.exit_code == 0, fresh.err);
  CHECK(seed.Wait(0) < 0);  // still seeding (then killed)
}

TEST_CASE("a node reports an expired latest once (stale_latest), and follows versions all the same") {
  Published p;
  REQUIRE(RunDeltaswarm(p.Publish({"--latest-valid", "1", "-q", p.tmp / "model.safetensors"})).exit_code == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  ChildProcess node(SpawnDeltaswarmTo({"node", "--bucket", p.tmp / "bucket", "--model", "m", "--trust",
                                       p.tmp / "key.pub", "--dest", p.tmp / "node", "--listen", "127.0.0.1:0",
                                       "--poll-interval", "0.2", "--json"},
                                      p.tmp / "node.out", p.tmp / "node.err"));
  auto count = [&](const std::string& type) {
    int n = 0;
    for (const auto& j : JsonLines(ReadFileText(p.tmp / "node.out")))
      if (j.value("type", "") == type) ++n;
    return n;
  };
  for (auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until && count("pulled") < 1;)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // five more polls of the same statement
  CHECK(count("pulled") == 1);
  CHECK(count("stale_latest") == 1);
  CHECK(node.Wait(0) < 0);  // still running (then killed)
}

TEST_CASE("publish --seed of the live version's checkpoint publishes nothing and seeds that version") {
  Published p;
  REQUIRE(RunDeltaswarm(p.Publish({"-q", p.tmp / "model.safetensors"})).exit_code == 0);
  RunResult again = RunDeltaswarm(
      p.Publish({"--seed", "--listen", "127.0.0.1:0", "--seed-duration", "1", "--json", p.tmp / "model.safetensors"}));
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  bool seeded = false;
  for (const auto& j : JsonLines(again.out))
    if (j.value("event", "") == "seeding" && j.value("version", 0) == 1) seeded = true;
  CHECK(seeded);
  CHECK(SummaryResult(again.out).value("note", "").find("already is this checkpoint") != std::string::npos);
  CHECK(p.Latest().version == 1);
}
