#include "test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace deltaswarm::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/deltaswarm-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void WriteSafetensors(const std::string& path, const std::vector<TestTensor>& tensors,
                      const std::string& metadata_json) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_json.empty()) header["__metadata__"] = nlohmann::ordered_json::parse(metadata_json);
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string json = header.dump();
  while (json.size() % 8) json.push_back(' ');  // the reference writer pads to 8
  std::vector<uint8_t> out(8);
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), json.begin(), json.end());
  for (const auto& t : tensors) out.insert(out.end(), t.data.begin(), t.data.end());
  WriteBytes(path, out);
}

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

static std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

RunResult RunDeltaswarm(const std::vector<std::string>& args) {
  TempDir tmp;
  std::string cmd = ShellQuote(DS_BINARY);
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  cmd += " >" + tmp / "out" + " 2>" + tmp / "err" + " </dev/null";
  int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  return r;
}

int SpawnDeltaswarm(const std::vector<std::string>& args) {
  std::fflush(nullptr);  // or the child would repeat our buffered output
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    std::string bin = DS_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

void KillAndReap(int pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

int WaitFor(int pid, double timeout_s) {
  for (int i = 0; i < static_cast<int>(timeout_s * 100); ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    ::usleep(10000);
  }
  KillAndReap(pid);
  return -1;
}

bool SameTree(const std::string& a, const std::string& b) {
  // Says why on stderr: a bare "false" from a flaky comparison tells nothing.
  auto differ = [&](const std::string& why) {
    std::fprintf(stderr, "SameTree(%s, %s): %s\n", a.c_str(), b.c_str(), why.c_str());
    return false;
  };
  if (fs::is_regular_file(a) || fs::is_regular_file(b)) {
    if (!fs::is_regular_file(a) || !fs::is_regular_file(b)) return differ("not both regular files");
    return ReadBytes(a) == ReadBytes(b) || differ("contents differ");
  }
  if (!fs::is_directory(a) || !fs::is_directory(b)) return differ("not both directories");
  std::vector<std::string> na, nb;
  for (auto& e : fs::recursive_directory_iterator(a)) na.push_back(fs::relative(e.path(), a).string());
  for (auto& e : fs::recursive_directory_iterator(b)) nb.push_back(fs::relative(e.path(), b).string());
  std::sort(na.begin(), na.end());
  std::sort(nb.begin(), nb.end());
  if (na != nb) {
    std::string only;
    for (auto& n : na)
      if (!std::binary_search(nb.begin(), nb.end(), n)) only += " <" + n;
    for (auto& n : nb)
      if (!std::binary_search(na.begin(), na.end(), n)) only += " >" + n;
    return differ("names differ:" + only);
  }
  for (auto& n : na) {
    if (!fs::is_regular_file(a + "/" + n)) continue;
    auto x = ReadBytes(a + "/" + n), y = ReadBytes(b + "/" + n);
    if (x != y) {
      size_t at = 0;
      while (at < std::min(x.size(), y.size()) && x[at] == y[at]) ++at;
      return differ(n + " differs: sizes " + std::to_string(x.size()) + " and " + std::to_string(y.size()) +
                    ", first difference at byte " + std::to_string(at));
    }
  }
  return true;
}

}  // namespace deltaswarm::testing
