#include "stop_signal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <mutex>
#include <thread>

namespace deltaswarm::cli {

namespace {

int g_wake_fd = -1;  // the pipe's write end; set before the handlers are installed

extern "C" void DsStopSignalHandler(int) {
  const int saved = errno;
  const char byte = 1;
  // Non-blocking: a full pipe holds a wake-up already.
  [[maybe_unused]] ssize_t n = ::write(g_wake_fd, &byte, 1);
  errno = saved;
}

// Never destroyed: the bridge thread may still touch it while the process exits.
StopSignal& ProcessStop() {
  static StopSignal* stop = new StopSignal;
  return *stop;
}

// The bridge: sleeps in read() until a handler writes, then requests the stop.
void RequestStopOnWake(int read_fd) {
  char byte;
  ssize_t n;
  do {
    n = ::read(read_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) ProcessStop().Request();
}

}  // namespace

const StopSignal& InstallStopSignals() {
  static std::once_flag once;
  std::call_once(once, [] {
    int fds[2];
    // Without a pipe the signals keep their default action (they end the process).
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
    g_wake_fd = fds[1];
    std::thread(RequestStopOnWake, fds[0]).detach();
    struct sigaction action = {};
    action.sa_handler = DsStopSignalHandler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
  });
  return ProcessStop();
}

void RequestStop() { ProcessStop().Request(); }

}  // namespace deltaswarm::cli
