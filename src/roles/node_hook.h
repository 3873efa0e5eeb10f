// A node's on_update hook: a shell command run after each switch.
#pragma once

#include <string>
#include <vector>

#include "deltaswarm/status.h"
#include "deltaswarm/stop_signal.h"

namespace deltaswarm {

struct HookOptions {
  std::string command;           // run as /bin/sh -c command
  std::vector<std::string> env;  // "NAME=value", added to this process's environment
  double timeout_s = 300;        // then the command's process group is ended (<= 0: no limit)
  double grace_s = 1;            // at most, between SIGTERM and SIGKILL to the group
};

struct HookResult {
  // Ok on exit status 0; kIoError naming the exit status or signal, a start
  // failure or the timeout; kCancelled when stopped.
  Status status;
  bool timed_out = false;
};

// Runs the command in a process group of its own, with its stdout sent to our
// stderr (our stdout may carry JSON lines), and waits for the shell (asleep
// until it exits, the timeout or a stop). On a stop or after timeout_s the
// whole group gets SIGTERM, and SIGKILL once the group is gone or grace_s has
// passed, so that its children end too (unless they left the group: setsid);
// then the shell is reaped. A command that exits by itself keeps whatever it
// left running in the background (it may have started a service).
HookResult RunHook(const HookOptions& hook, const StopSignal& stop);

}  // namespace deltaswarm
