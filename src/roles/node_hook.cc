#include "roles/node_hook.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
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

}  // namespace

Status RunHook(const std::string& command, const std::vector<std::string>& env, const StopSignal& stop) {
  std::vector<std::string> vars = MergedEnvironment(env);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return IoError("on_update: cannot start /bin/sh: " + std::string(std::strerror(err)));

  // Polled, so that a stop request reaches the command promptly.
  using Clock = std::chrono::steady_clock;
  Clock::time_point term_sent{};
  bool stopped = false;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return IoError("on_update: waitpid: " + std::string(std::strerror(errno)));
    if (stop.requested() && !stopped) {
      ::kill(pid, SIGTERM);
      term_sent = Clock::now();
      stopped = true;
    }
    if (stopped && Clock::now() - term_sent > std::chrono::seconds(1)) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (stopped) return Status(Code::kCancelled, "on_update: stopped");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status)) return IoError("on_update '" + command + "' exited with status " + std::to_string(WEXITSTATUS(status)));
  return IoError("on_update '" + command + "' killed by signal " + std::to_string(WTERMSIG(status)));
}

}  // namespace deltaswarm
