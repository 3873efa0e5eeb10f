// SIGTERM and SIGINT as a stop request for long-running commands (node,
// publish --seed): the handler only sets a flag the command's loop polls.
#pragma once

#include <atomic>

namespace deltaswarm::cli {

// Installs the handlers and returns the flag they set.
const std::atomic<bool>& InstallStopSignals();
// Sets the flag as a signal would (e.g. after --duration).
void RequestStop();

}  // namespace deltaswarm::cli
