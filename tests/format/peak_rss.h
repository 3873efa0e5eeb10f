// PeakRssGrowth: how far the resident set rises above where it started while
// `fn` runs, measured in a forked child so that the caller's heap (and a
// parser that does blow up) stays out of it. The child resets its high-water
// mark (VmHWM) through /proc/self/clear_refs before `fn`, and reads it after;
// it first hands free heap pages back (malloc_trim), or `fn` could reuse
// pages an earlier blow-up left resident and seem to cost nothing.
#pragma once

#include <fcntl.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>

namespace deltaswarm::testing {

// A "VmRSS:"-style field of /proc/self/status, in bytes; -1 if absent.
inline int64_t ProcStatusBytes(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  int64_t kb = -1;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, field, n) == 0) kb = std::strtoll(line + n, nullptr, 10);
  std::fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

// Bytes of peak RSS growth, or -1 if it could not be measured (no
// clear_refs) or the child died (a bad_alloc counts as a blow-up).
inline int64_t PeakRssGrowth(const std::function<void()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::close(fds[0]);
    int64_t growth = -1;
    ::malloc_trim(0);
    const int reset = ::open("/proc/self/clear_refs", O_WRONLY);
    if (reset >= 0 && ::write(reset, "5", 1) == 1) {  // 5: reset the peak RSS to the current RSS
      const int64_t before = ProcStatusBytes("VmHWM:");
      fn();
      const int64_t after = ProcStatusBytes("VmHWM:");
      if (before >= 0 && after >= 0) growth = after - before;
    }
    if (::write(fds[1], &growth, sizeof growth) != sizeof growth) growth = -1;
    ::_exit(0);  // no doctest or atexit handlers in the child
  }
  ::close(fds[1]);
  int64_t growth = -1;
  if (::read(fds[0], &growth, sizeof growth) != sizeof growth) growth = -1;
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? growth : -1;
}

}  // namespace deltaswarm::testing
