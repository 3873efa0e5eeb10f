// The processes an on_update hook under test started: the hook writes its
// shell's pid and its children's, one a line, to a file; a test checks that
// none of them, and nothing of the shell's process group, is left. A guard
// SIGKILLs every recorded pid on scope exit, also when a check failed.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace deltaswarm::testing {

// The pids in path, one a line (only complete lines).
inline std::vector<int> ReadPids(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  std::vector<int> pids;
  std::string text = s.str(), line;
  text = text.substr(0, text.rfind('\n') + 1);
  std::istringstream in(text);
  while (std::getline(in, line))
    if (!line.empty()) pids.push_back(std::stoi(line));
  return pids;
}

// "STATE PPID PGRP ..." of /proc/pid/stat, or "" when it is gone.
inline std::string StatAfterName(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  size_t close = stat.rfind(')');
  return close == std::string::npos ? "" : stat.substr(close + 2);
}

// Running, or stopped: not gone and not a zombie (a zombie is dead; its
// parent, maybe PID 1 of a container, just has not reaped it).
inline bool ProcessAlive(int pid) {
  std::string st = StatAfterName(pid);
  return !st.empty() && st[0] != 'Z';
}

inline int ProcessGroupOf(int pid) {
  std::istringstream in(StatAfterName(pid));
  std::string state;
  int ppid = 0, pgrp = -1;
  in >> state >> ppid >> pgrp;
  return in ? pgrp : -1;
}

// Live processes in process group pgid.
inline std::vector<int> GroupMembers(int pgid) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::stoi(name);
    if (ProcessGroupOf(pid) == pgid && ProcessAlive(pid)) out.push_back(pid);
  }
  return out;
}

// Polls done() every 50 ms for at most timeout_s.
inline bool WaitUntilTrue(const std::function<bool()>& done, double timeout_s) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

// SIGKILLs what the hook recorded in path on scope exit.
class RecordedPidsGuard {
 public:
  explicit RecordedPidsGuard(std::string path) : path_(std::move(path)) {}
  ~RecordedPidsGuard() {
    for (int pid : ReadPids(path_))
      if (pid > 1 && ProcessAlive(pid)) ::kill(pid, SIGKILL);
  }
  RecordedPidsGuard(const RecordedPidsGuard&) = delete;
  RecordedPidsGuard& operator=(const RecordedPidsGuard&) = delete;

 private:
  std::string path_;
};

}  // namespace deltaswarm::testing
