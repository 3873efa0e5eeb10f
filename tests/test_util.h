// Helpers shared by the tests: scratch directories, safetensors writers,
// running the built program.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deltaswarm/status.h"

namespace deltaswarm::testing {

// A fresh directory under $TMPDIR, removed with everything in it on scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct TestTensor {
  std::string name;
  std::string dtype;              // safetensors spelling
  std::vector<uint64_t> shape;
  std::vector<uint8_t> data;      // raw little-endian bytes
};

// Writes a valid safetensors file (tensors laid out in the given order).
void WriteSafetensors(const std::string& path, const std::vector<TestTensor>& tensors,
                      const std::string& metadata_json = "");
void WriteBytes(const std::string& path, const std::vector<uint8_t>& data);
std::vector<uint8_t> ReadBytes(const std::string& path);
void WriteText(const std::string& path, const std::string& text);
// Deterministic pseudo-random bytes.
std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed);

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the built deltaswarm with args (shell-quoted here), capturing output.
RunResult RunDeltaswarm(const std::vector<std::string>& args);

// Starts the built deltaswarm in the background (output discarded); returns its PID.
int SpawnDeltaswarm(const std::vector<std::string>& args);
// SIGKILLs pid and reaps it.
void KillAndReap(int pid);
// Waits for pid (bounded by timeout_s) and returns its exit code, or -1 on timeout (then kills it).
int WaitFor(int pid, double timeout_s);

// Starts program (a path) with args in the background, stdout and stderr
// appended to the given files ("" : /dev/null). The child gets SIGKILL if the
// test process dies first. Returns its PID (or -1 if fork failed).
int SpawnProgram(const std::string& program, const std::vector<std::string>& args,
                 const std::string& stdout_path = "", const std::string& stderr_path = "");
// The same for the built deltaswarm.
int SpawnDeltaswarmTo(const std::vector<std::string>& args, const std::string& stdout_path,
                      const std::string& stderr_path);

// Owns a spawned process: the destructor ends it (SIGTERM, SIGKILL after
// grace_s) and reaps it, also when a CHECK or REQUIRE failed in between.
class ChildProcess {
 public:
  ChildProcess() = default;
  explicit ChildProcess(int pid, double grace_s = 5) : pid_(pid), grace_s_(grace_s) {}
  ~ChildProcess() { Stop(); }
  ChildProcess(ChildProcess&& o) noexcept : pid_(o.pid_), grace_s_(o.grace_s_) { o.pid_ = -1; }
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Waits (bounded) for it to exit: its exit code, 128 + signal, or -1 after
  // timeout_s (then it is killed). Reaped either way.
  int Wait(double timeout_s);
  // SIGKILL and reap now.
  void Kill();
  // SIGTERM, then SIGKILL after grace_s; reaped. Idempotent.
  void Stop();

 private:
  int pid_ = -1;
  double grace_s_ = 5;
};

// The first line of the file at path once it has one (polled every 50 ms), or
// "" after timeout_s.
std::string WaitForFirstLine(const std::string& path, double timeout_s);
// The whole file, or "" if it cannot be read.
std::string ReadFileText(const std::string& path);
// n distinct TCP ports on 127.0.0.1 that were free a moment ago (all bound at
// once, then released: a tiny race with other programs remains).
std::vector<int> FreeTcpPorts(int n);

// True when both files (or directory trees) hold identical bytes under identical names.
bool SameTree(const std::string& a, const std::string& b);

}  // namespace deltaswarm::testing
