#include "roles/node_hook.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

extern char** environ;

namespace deltaswarm {

namespace {

// Our environment with `extra` replacing variables of the same name.
std::vector<std::string> MergedEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string var = *e;
    std::string name = var.substr(0, var.find('='));
    bool replaced = false;
    for (const auto& x : extra) replaced |= x.compare(0, name.size() + 1, name + "=") == 0;
    if (!replaced) env.push_back(var);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::string Seconds(double s) {
  std::ostringstream out;
  out << s << " s";
  return out.str();
}

// /bin/sh -c command as the leader of a new process group (its pgid is its
// pid), so that one kill(-pid) reaches everything it starts. Its signal mask
// is cleared and the signals a shell relies on are reset to their defaults:
// an exec'd program inherits both from the spawning thread otherwise.
Result<pid_t> SpawnShell(const HookOptions& hook) {
  std::vector<std::string> vars = MergedEnvironment(hook.env);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = hook.command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE}) sigaddset(&defaults, sig);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return IoError("on_update: cannot start /bin/sh: " + std::string(std::strerror(err)));
  return pid;
}

// Waits for a child to exit without reaping it: until it is reaped its pid
// stays its process group's id, so that kill(-pid) cannot reach anyone else.
// Sleeps in poll() on a pidfd (ready when the child exits) and an eventfd
// that a stop writes to. Without pidfds (Linux before 5.3, some sandboxes)
// it looks every 20 ms, and still wakes at once on a stop.
class ExitWatch {
 public:
  ExitWatch(pid_t pid, const StopSignal& stop) : pid_(pid), stop_(stop) {
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ >= 0)
      on_stop_.emplace(stop.OnStop([fd = wake_fd_] {
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
      }));
  }
  ~ExitWatch() {
    on_stop_.reset();  // before its fd closes
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (pidfd_ >= 0) ::close(pidfd_);
  }
  ExitWatch(const ExitWatch&) = delete;
  ExitWatch& operator=(const ExitWatch&) = delete;

  // True once the child has exited; false at the deadline, or (with
  // watch_stop) once a stop is requested.
  bool WaitUntil(SteadyClock::time_point deadline, bool watch_stop) const {
    for (;;) {
      if (Exited()) return true;
      if (watch_stop && stop_.requested()) return false;
      const auto now = SteadyClock::now();
      if (now >= deadline) return false;
      if (pidfd_ < 0 || wake_fd_ < 0) {
        const auto next = std::min(deadline, now + std::chrono::milliseconds(20));
        if (watch_stop) stop_.WaitUntil(next);
        else std::this_thread::sleep_until(next);
        continue;
      }
      pollfd fds[2] = {{pidfd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      // The eventfd stays ready after a stop: watched only while a stop matters.
      ::poll(fds, watch_stop ? 2 : 1, TimeoutMs(deadline - now));  // EINTR: look again
    }
  }

 private:
  bool Exited() const {
    siginfo_t info{};
    int r;
    do {
      r = ::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT);
    } while (r < 0 && errno == EINTR);
    return r < 0 || info.si_pid == pid_;  // an error: there is nothing left to wait for
  }

  static int TimeoutMs(SteadyClock::duration left) {
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return static_cast<int>(std::clamp<decltype(ms)>(ms, 0, INT_MAX));
  }

  pid_t pid_;
  const StopSignal& stop_;
  int pidfd_ = -1;
  int wake_fd_ = -1;
  std::optional<StopSignal::Registration> on_stop_;
};

// Whether a process of group pgid other than a zombie is left. Its members
// other than the shell are not our children, so /proc is where to look.
bool GroupHasLiveMembers(pid_t pgid) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return false;  // cannot tell: SIGKILL now
  bool found = false;
  while (dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    std::getline(f, stat);
    const size_t close = stat.rfind(')');  // after the command name, which may hold spaces
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    char state = 0;
    pid_t ppid = 0, pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (fields && pgrp == pgid && state != 'Z') {
      found = true;
      break;
    }
  }
  ::closedir(proc);
  return found;
}

// After SIGTERM to group pgid (whose leader is watched): waits until the
// leader and the rest of the group are gone, or until deadline.
void AwaitGroupEnd(const ExitWatch& watch, pid_t pgid, SteadyClock::time_point deadline) {
  if (!watch.WaitUntil(deadline, /*watch_stop=*/false)) return;
  // Its children may still be cleaning up: polled, for at most the grace.
  while (SteadyClock::now() < deadline && GroupHasLiveMembers(pgid))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// RunHook with the timeout reported through *timed_out.
Status RunShell(const HookOptions& hook, const StopSignal& stop, bool* timed_out) {
  DS_ASSIGN_OR_RETURN(pid_t pid, SpawnShell(hook));
  const auto deadline = hook.timeout_s > 0 ? DeadlineAfter(hook.timeout_s) : SteadyClock::time_point::max();
  bool ended_by_us = false;
  {
    ExitWatch watch(pid, stop);
    if (!watch.WaitUntil(deadline, /*watch_stop=*/true)) {
      ended_by_us = true;
      *timed_out = !stop.requested();
      ::kill(-pid, SIGTERM);
      AwaitGroupEnd(watch, pid, DeadlineAfter(hook.grace_s));
      // Whatever of the group is left: what ignored SIGTERM or took longer
      // than the grace. The shell is not reaped yet, so the group id is still ours.
      ::kill(-pid, SIGKILL);
    }
  }
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return IoError("on_update: waitpid: " + std::string(std::strerror(errno)));
  if (*timed_out)
    return IoError("on_update '" + hook.command + "' timed out after " + Seconds(hook.timeout_s) +
                   ": its process group was killed");
  if (ended_by_us) return Status(Code::kCancelled, "on_update: stopped");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status))
    return IoError("on_update '" + hook.command + "' exited with status " + std::to_string(WEXITSTATUS(status)));
  return IoError("on_update '" + hook.command + "' killed by signal " + std::to_string(WTERMSIG(status)));
}

}  // namespace

HookResult RunHook(const HookOptions& hook, const StopSignal& stop) {
  HookResult out;
  out.status = RunShell(hook, stop, &out.timed_out);
  return out;
}

}  // namespace deltaswarm
