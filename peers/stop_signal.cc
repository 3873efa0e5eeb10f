#include "stop_signal.h"

#include <csignal>

namespace deltaswarm::cli {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void DsStopSignalHandler(int) { g_stop.store(true); }
}  // namespace

const std::atomic<bool>& InstallStopSignals() {
  std::signal(SIGTERM, DsStopSignalHandler);
  std::signal(SIGINT, DsStopSignalHandler);
  return g_stop;
}

void RequestStop() { g_stop.store(true); }

}  // namespace deltaswarm::cli
