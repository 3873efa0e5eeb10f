// RunHook: exit statuses, the timeout and a stop, which end the hook's whole
// process group (the shell and the children it started), and a wait that
// wakes at once on the child's exit or a stop.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "hook_processes.h"
#include "roles/node_hook.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A hook that records its shell's pid and two children's in `pids`, then
// waits for them; with ignore_term all three ignore SIGTERM.
std::string HangingHook(const std::string& pids, bool ignore_term) {
  return std::string(ignore_term ? "trap '' TERM; " : "") + "echo $$ >> " + pids + "; sleep 1000 & echo $! >> " +
         pids + "; sleep 1000 & echo $! >> " + pids + "; wait";
}

// Every recorded process and every member of the shell's group is gone.
void CheckNothingLeft(const std::string& pids, int pgid) {
  CHECK(WaitUntilTrue([&] {
    for (int pid : ReadPids(pids))
      if (ProcessAlive(pid)) return false;
    return GroupMembers(pgid).empty();
  }, 5));
}

}  // namespace

TEST_CASE("RunHook: exit 0 is ok, another status an I/O error naming it; the environment is passed") {
  TempDir tmp;
  StopSignal stop;
  HookOptions hook;
  hook.command = "echo $HOOK_VAR > " + (tmp / "env");
  hook.env = {"HOOK_VAR=v7"};
  HookResult ok = RunHook(hook, stop);
  CHECK(ok.status.ok());
  CHECK_FALSE(ok.timed_out);
  CHECK(ReadFileText(tmp / "env") == "v7\n");

  hook.command = "exit 3";
  HookResult failed = RunHook(hook, stop);
  CHECK(failed.status.code() == Code::kIoError);
  CHECK(failed.status.message().find("exited with status 3") != std::string::npos);
  CHECK_FALSE(failed.timed_out);
}

TEST_CASE("RunHook: a quick hook returns at once (no polling interval), in a process group of its own") {
  TempDir tmp;
  StopSignal stop;
  HookOptions hook;
  hook.command = "echo $$ > " + (tmp / "pid") + "; cut -d' ' -f5 /proc/$$/stat > " + (tmp / "pgid");
  const auto start = Clock::now();
  for (int i = 0; i < 20; ++i) REQUIRE(RunHook(hook, stop).status.ok());
  CHECK(SecondsSince(start) < 10);
  CHECK(std::stoi(ReadFileText(tmp / "pgid")) == std::stoi(ReadFileText(tmp / "pid")));
  CHECK(::getpgrp() != std::stoi(ReadFileText(tmp / "pid")));
}

TEST_CASE("RunHook: past its timeout the whole group is killed, also children that ignore SIGTERM") {
  TempDir tmp;
  const std::string pids = tmp / "pids";
  RecordedPidsGuard guard(pids);
  StopSignal stop;
  HookOptions hook;
  hook.command = HangingHook(pids, /*ignore_term=*/true);
  hook.timeout_s = 1;
  hook.grace_s = 0.5;
  const auto start = Clock::now();
  HookResult run = RunHook(hook, stop);
  const double took = SecondsSince(start);
  CHECK(run.timed_out);
  CHECK(run.status.code() == Code::kIoError);
  CHECK(run.status.message().find("timed out after 1 s") != std::string::npos);
  CHECK(took >= 1.0);
  CHECK(took < 1.0 + 0.5 + 2.0);  // the grace, then SIGKILL
  const std::vector<int> recorded = ReadPids(pids);
  REQUIRE(recorded.size() == 3);
  CheckNothingLeft(pids, recorded[0]);
}

TEST_CASE("RunHook: a stop ends the hook and its children within the grace; SIGTERM that ends the shell is enough") {
  TempDir tmp;
  const std::string pids = tmp / "pids";
  RecordedPidsGuard guard(pids);
  StopSignal stop;
  HookOptions hook;
  hook.command = HangingHook(pids, /*ignore_term=*/false);
  hook.grace_s = 5;  // the shell dies of SIGTERM at once: no need to wait for it
  std::thread stopper([&] {
    WaitUntilTrue([&] { return ReadPids(pids).size() == 3; }, 10);
    stop.Request();
  });
  const auto start = Clock::now();
  HookResult run = RunHook(hook, stop);
  const double took = SecondsSince(start);
  stopper.join();
  CHECK(run.status.code() == Code::kCancelled);
  CHECK_FALSE(run.timed_out);
  CHECK(took < 3);
  const std::vector<int> recorded = ReadPids(pids);
  REQUIRE(recorded.size() == 3);
  CheckNothingLeft(pids, recorded[0]);
}

TEST_CASE("RunHook: after SIGTERM the hook's children get the grace to clean up before SIGKILL") {
  TempDir tmp;
  StopSignal stop;
  HookOptions hook;
  // The shell dies of SIGTERM at once; its child takes 0.3 s to clean up.
  hook.command = "sh -c 'trap \"sleep 0.3; echo cleaned > " + (tmp / "cleaned") +
                 "; exit 0\" TERM; echo > " + (tmp / "ready") + "; while :; do sleep 0.05; done' & wait";
  hook.grace_s = 5;
  std::thread stopper([&] {
    WaitUntilTrue([&] { return !ReadFileText(tmp / "ready").empty(); }, 10);
    stop.Request();
  });
  const auto start = Clock::now();
  CHECK(RunHook(hook, stop).status.code() == Code::kCancelled);
  stopper.join();
  CHECK(ReadFileText(tmp / "cleaned") == "cleaned\n");
  CHECK(SecondsSince(start) < 4);  // not the whole grace: the group was gone
}

TEST_CASE("RunHook: a stop requested before it starts ends it at once") {
  TempDir tmp;
  StopSignal stop;
  stop.Request();
  HookOptions hook;
  hook.command = "sleep 1000";
  const auto start = Clock::now();
  CHECK(RunHook(hook, stop).status.code() == Code::kCancelled);
  CHECK(SecondsSince(start) < 3);
}
