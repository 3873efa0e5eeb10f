#include "opentracker_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace deltaswarm::testing {

namespace {

constexpr int kStartAttempts = 5;  // ports tried before giving up
constexpr int kReadyPolls = 50;    // x 100 ms until it must answer
constexpr int kStopPolls = 50;     // x 100 ms after SIGTERM before SIGKILL

std::string FindOpentracker() {
  for (const char* p : {"/usr/bin/opentracker", "/usr/local/bin/opentracker", "/usr/sbin/opentracker"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  throw std::runtime_error("OpentrackerServer: opentracker is not installed (apt-get install opentracker)");
}

// A connected TCP socket to 127.0.0.1:port with 2 s send/receive timeouts, or -1.
int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string Truncated(const std::string& hex) {
  if (hex.size() != 40 && hex.size() != 64)
    throw std::runtime_error("OpentrackerServer: info-hash '" + hex + "' is not 40 or 64 hex digits");
  return hex.substr(0, 40);
}

// The integer after `key` ("8:completei") up to 'e', or -1.
int BencodedInt(const std::string& text, const std::string& key) {
  size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::atoi(text.c_str() + at + key.size());
}

}  // namespace

OpentrackerServer::OpentrackerServer(const std::vector<std::string>& info_hashes) {
  (void)FindOpentracker();
  run_dir_ = dir_ / "run";
  if (::mkdir(run_dir_.c_str(), 0755) != 0) throw std::runtime_error("OpentrackerServer: cannot create " + run_dir_);
  // As root it runs as "nobody", chrooted to its working directory.
  ::chmod(dir_.path().c_str(), 0755);
  {
    std::ofstream wl(run_dir_ + "/whitelist.txt", std::ios::trunc);
    for (const auto& h : info_hashes) wl << Truncated(h) << "\n";
    std::ofstream conf(run_dir_ + "/opentracker.conf", std::ios::trunc);
    conf << "access.whitelist " << run_dir_ << "/whitelist.txt\n";
    if (!wl || !conf) throw std::runtime_error("OpentrackerServer: cannot write its config in " + run_dir_);
  }
  ::chmod((run_dir_ + "/whitelist.txt").c_str(), 0644);
  ::chmod((run_dir_ + "/opentracker.conf").c_str(), 0644);
  std::string error;
  for (int i = 0; i < kStartAttempts; ++i) {
    if (TryStart(FreeTcpPorts(1).front(), &error)) return;
  }
  throw std::runtime_error("OpentrackerServer: opentracker did not start: " + error);
}

OpentrackerServer::~OpentrackerServer() { Stop(); }

bool OpentrackerServer::TryStart(int port, std::string* error) {
  const std::string bin = FindOpentracker();
  const std::string port_text = std::to_string(port);
  const std::string conf = run_dir_ + "/opentracker.conf";
  const std::string log = run_dir_ + "/opentracker.log";
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("OpentrackerServer: fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // (as root it is lost when opentracker drops to nobody)
    if (::chdir(run_dir_.c_str()) != 0) ::_exit(126);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(bin.c_str(), "opentracker", "-i", "127.0.0.1", "-p", port_text.c_str(), "-P", port_text.c_str(), "-f",
            conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  port_ = port;
  for (int i = 0; i < kReadyPolls; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      pid_ = -1;
      *error = "exited on port " + port_text + ": " + ReadFileText(log);
      return false;
    }
    if (Scrape(std::string(40, '0')).complete >= 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Stop();
  *error = "no answer on port " + port_text + " within 5 s: " + ReadFileText(log);
  return false;
}

OpentrackerServer::Counts OpentrackerServer::Scrape(const std::string& info_hash) const {
  Counts counts;
  const std::string hex = Truncated(info_hash);
  std::string query;
  for (size_t i = 0; i < hex.size(); i += 2) query += "%" + hex.substr(i, 2);
  int fd = Connect(port_);
  if (fd < 0) return counts;
  const std::string request = "GET /scrape?info_hash=" + query + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  std::string response;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      response.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  if (response.find(" 200 ") == std::string::npos || response.find("d5:files") == std::string::npos) return counts;
  // "d5:filesdee" for a torrent nobody announced yet.
  const int complete = BencodedInt(response, "8:completei");
  const int incomplete = BencodedInt(response, "10:incompletei");
  counts.complete = complete < 0 ? 0 : complete;
  counts.incomplete = incomplete < 0 ? 0 : incomplete;
  return counts;
}

void OpentrackerServer::Stop() {
  if (pid_ <= 0) return;
  pid_t pid = pid_;
  pid_ = -1;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < kStopPolls; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace deltaswarm::testing
