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

// True when both files (or directory trees) hold identical bytes under identical names.
bool SameTree(const std::string& a, const std::string& b);

}  // namespace deltaswarm::testing
