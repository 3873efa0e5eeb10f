#include "test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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

int SpawnProgram(const std::string& program, const std::vector<std::string>& args, const std::string& stdout_path,
                 const std::string& stderr_path) {
  // Everything the child needs is built before fork: it only calls async-signal-safe code.
  std::vector<std::string> copy = args;
  copy.insert(copy.begin(), program);
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out = stdout_path.empty() ? "/dev/null" : stdout_path;
  const std::string err = stderr_path.empty() ? "/dev/null" : stderr_path;
  const pid_t parent = ::getpid();
  std::fflush(nullptr);  // or the child would repeat our buffered output
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test takes its children along
    if (::getppid() != parent) ::_exit(127);
    int in_fd = ::open("/dev/null", O_RDONLY);
    int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) ::_exit(126);
    ::dup2(in_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

int SpawnDeltaswarmTo(const std::vector<std::string>& args, const std::string& stdout_path,
                      const std::string& stderr_path) {
  return SpawnProgram(DS_BINARY, args, stdout_path, stderr_path);
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    Stop();
    pid_ = o.pid_;
    grace_s_ = o.grace_s_;
    o.pid_ = -1;
  }
  return *this;
}

int ChildProcess::Wait(double timeout_s) {
  if (pid_ <= 0) return -1;
  const int pid = pid_;
  pid_ = -1;
  for (int i = 0; i <= static_cast<int>(timeout_s * 100); ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ::usleep(10000);
  }
  KillAndReap(pid);
  return -1;
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  KillAndReap(pid_);
  pid_ = -1;
}

void ChildProcess::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  (void)Wait(grace_s_);  // kills and reaps after grace_s
}

void WriteText(const std::string& path, const std::string& text) {
  WriteBytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

std::string ReadFileText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string WaitForFirstLine(const std::string& path, double timeout_s) {
  for (int i = 0; i <= static_cast<int>(timeout_s * 20); ++i) {
    std::ifstream f(path);
    std::string line;
    // Only a complete line: the writer may be half-way through it.
    if (f && std::getline(f, line) && !line.empty() && !f.eof()) return line;
    ::usleep(50000);
  }
  return "";
}

std::vector<int> FreeTcpPorts(int n) {
  std::vector<int> fds, ports;
  for (int i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      break;
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) ::close(fd);
  if (static_cast<int>(ports.size()) != n) throw std::runtime_error("FreeTcpPorts: cannot bind a free port");
  return ports;
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
