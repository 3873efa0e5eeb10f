// A node's on_update hook as `deltaswarm node` runs it, a separate process
// on 127.0.0.1 following a directory bucket: a hook that never exits, with
// children that never exit (and ignore SIGTERM), is killed with its whole
// process group after --hook-timeout, and the node goes on to the next
// version; a stop during the hook ends the hook's children too. Every
// process is killed by pid on any exit: the node by ChildProcess, what the
// hook started by the pids it recorded.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>

#include "deltaswarm/synth.h"
#include "hook_processes.h"
#include "json_lines.h"
#include "published_version.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A hook script: for version 1 it records its shell's pid and two children's
// in tmp/hook1.pids and waits for them forever (with ignore_term, all of them
// ignore SIGTERM); for any other version it appends the version to tmp/done.
std::string WriteHook(const TempDir& tmp, bool ignore_term) {
  const std::string path = tmp / "hook.sh";
  const std::string pids = tmp / "hook1.pids";
  std::ofstream(path) << "if [ \"$DELTASWARM_VERSION\" = 1 ]; then\n"
                      << (ignore_term ? "  trap '' TERM\n" : "") << "  echo $$ >> " << pids << "\n"
                      << "  sleep 1000 & echo $! >> " << pids << "\n"
                      << "  sleep 1000 & echo $! >> " << pids << "\n"
                      << "  wait\n"
                      << "fi\n"
                      << "echo $DELTASWARM_VERSION >> " << tmp / "done" << "\n";
  return path;
}

// `deltaswarm node --json` on p's bucket (no peers: chunks from the bucket),
// polling often, with the hook script as on_update.
ChildProcess StartNode(const Published& p, const std::string& hook, const std::vector<std::string>& extra) {
  const std::string config = p.tmp / "node.yaml";
  std::ofstream(config) << "bucket: " << p.bucket << "\n"
                        << "model: m\n"
                        << "dest: " << p.tmp / "node" << "\n"
                        << "trust: [" << p.key_pub() << "]\n"
                        << "listen: 127.0.0.1:0\n"
                        << "poll_interval_s: 0.3\n"
                        << "threads: 1\n"
                        << "on_update: sh " << hook << "\n";
  std::vector<std::string> args = {"node", "--config", config, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  return ChildProcess(SpawnDeltaswarmTo(args, p.tmp / "node.out", p.tmp / "node.err"));
}

// The node events of type `type`.
std::vector<nlohmann::json> NodeEvents(const Published& p, const std::string& type) {
  std::vector<nlohmann::json> out;
  for (const auto& e : JsonLines(ReadFileText(p.tmp / "node.out")))
    if (e.value("event", "") == "node" && e.value("type", "") == type) out.push_back(e);
  return out;
}

// Waits (bounded) for the version-1 hook to record its three processes; the
// hook's process group id (that of its outer shell, /bin/sh -c), or -1.
int AwaitHangingHook(const Published& p) {
  const std::string pids = p.tmp / "hook1.pids";
  if (!WaitUntilTrue([&] { return ReadPids(pids).size() == 3; }, 60)) return -1;
  return ProcessGroupOf(ReadPids(pids)[0]);
}

// No recorded process is alive, and nothing is left in the group.
bool NothingLeft(const std::string& pids, int pgid) {
  for (int pid : ReadPids(pids))
    if (ProcessAlive(pid)) return false;
  return GroupMembers(pgid).empty();
}

}  // namespace

TEST_CASE("a hung on_update and its children are killed after --hook-timeout, and the node applies the next version") {
  Published p("", "", 500'000, SwarmAccess::kOpen);
  SynthOptions s;  // Published's v0 again, and one step after it
  s.out_dir = p.tmp / "next";
  s.params = 500'000;
  s.versions = 1;
  REQUIRE(Synthesize(s, nullptr).ok());
  RecordedPidsGuard hook_processes(p.tmp / "hook1.pids");
  constexpr double kTimeoutS = 2;
  ChildProcess node = StartNode(p, WriteHook(p.tmp, /*ignore_term=*/true), {"--hook-timeout", "2"});

  const int pgid = AwaitHangingHook(p);
  INFO("node stderr: " << ReadFileText(p.tmp / "node.err"));
  REQUIRE(pgid > 0);
  const auto hook_started = Clock::now();
  // The hook runs in a process group of its own, not the node's (nor this test's).
  CHECK(pgid != ProcessGroupOf(node.pid()));
  CHECK(pgid != ::getpgrp());

  p.Publish(p.tmp / "next/v1/model.safetensors", 2);
  const double published_after = SecondsSince(hook_started);
  // The timeout, the SIGKILL grace (1 s), a poll, and a pull of 1 MB, with a margin for 2 busy cores.
  const double limit = std::max(kTimeoutS + 1, published_after) + 20;
  CHECK(WaitUntilTrue([&] { return ReadFileText(p.tmp / "done") == "2\n"; }, limit - SecondsSince(hook_started)));
  MESSAGE("version 2's hook ran " << SecondsSince(hook_started) << " s after version 1's started (publish took "
                                  << published_after << " s)");
  CHECK(SameTree(p.tmp / "node/current/model.safetensors", p.tmp / "next/v1/model.safetensors"));

  CHECK(WaitUntilTrue([&] { return NothingLeft(p.tmp / "hook1.pids", pgid); }, 5));
  const auto warnings = NodeEvents(p, "warning");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0]["version"] == 1);
  CHECK(warnings[0]["message"].get<std::string>().find("timed out after 2 s") != std::string::npos);
  CHECK(NodeEvents(p, "on_update").size() == 1);  // version 2's
  CHECK(NodeEvents(p, "on_update_failed").empty());
  CHECK(ReadFileText(p.tmp / "node.err").find("timed out after 2 s") != std::string::npos);  // --json: also stderr

  CHECK(ProcessAlive(node.pid()));  // it carried on
}

TEST_CASE("a stop during on_update ends the hook's children too, and the node exits 0 at once") {
  Published p("", "", 500'000, SwarmAccess::kOpen);
  RecordedPidsGuard hook_processes(p.tmp / "hook1.pids");
  ChildProcess node = StartNode(p, WriteHook(p.tmp, /*ignore_term=*/false), {});
  const int pgid = AwaitHangingHook(p);
  INFO("node stderr: " << ReadFileText(p.tmp / "node.err"));
  REQUIRE(pgid > 0);
  CHECK(pgid != ProcessGroupOf(node.pid()));  // its own group, not the node's (nor this test's)
  CHECK(pgid != ::getpgrp());

  const auto stopped = Clock::now();
  ::kill(node.pid(), SIGTERM);
  CHECK(node.Wait(10) == 0);
  CHECK(SecondsSince(stopped) < 3);
  CHECK(WaitUntilTrue([&] { return NothingLeft(p.tmp / "hook1.pids", pgid); }, 5));
  CHECK(NodeEvents(p, "on_update_failed").empty());  // a stop is no failure
  CHECK(SummaryResult(ReadFileText(p.tmp / "node.out")).value("current", 0) == 1);
}
