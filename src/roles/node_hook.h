// A node's on_update hook: a shell command run after each switch.
#pragma once

#include <string>
#include <vector>

#include "deltaswarm/status.h"
#include "deltaswarm/stop_signal.h"

namespace deltaswarm {

// Runs `/bin/sh -c command` with env ("NAME=value") added to this process's
// environment, its stdout sent to our stderr (our stdout may carry JSON
// lines), and waits for it. Once stop is requested the command gets SIGTERM, and
// SIGKILL a second later. Ok on exit status 0; else kIoError naming the
// exit status or signal (kCancelled when stopped).
Status RunHook(const std::string& command, const std::vector<std::string>& env, const StopSignal& stop);

}  // namespace deltaswarm
