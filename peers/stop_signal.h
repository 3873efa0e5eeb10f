// SIGTERM and SIGINT as a stop request for long-running commands (node,
// gateway, seed, publish --seed, pull): the process's StopSignal, which their
// waits sleep on. A signal handler may not take the StopSignal's mutex, so it
// only writes a byte to a pipe; a thread blocked reading that pipe requests
// the stop (the self-pipe trick: nothing polls).
#pragma once

#include "deltaswarm/stop_signal.h"

namespace deltaswarm::cli {

// Installs the handlers (once) and returns the signal they request.
const StopSignal& InstallStopSignals();
// Requests the stop as a signal would (e.g. after --duration).
void RequestStop();

}  // namespace deltaswarm::cli
