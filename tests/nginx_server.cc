#include "nginx_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace deltaswarm::testing {

namespace {

constexpr int kStartAttempts = 5;     // ports tried before giving up
constexpr int kReadyPolls = 50;       // x 100 ms until nginx must answer
constexpr int kStopPolls = 50;        // x 100 ms after SIGTERM before SIGKILL

std::string FindNginx() {
  for (const char* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx", "/usr/bin/nginx"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      std::string candidate = dir + "/nginx";
      if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  throw std::runtime_error("NginxServer: nginx is not installed (apt-get install nginx-light)");
}

// Binding port 0 lets the kernel pick a free port; nginx binds it a moment
// later (a race that TryStart's retry covers).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("NginxServer: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("NginxServer: cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool Answers(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteConfig(const std::string& path, const std::string& run, const std::string& bucket, int port) {
  std::ofstream f(path, std::ios::trunc);
  // Workers drop to "nobody" unless told otherwise, and then every PUT into a
  // root-owned bucket fails with 500 (docs: /work/shared/notes/nginx.md).
  if (::geteuid() == 0) f << "user root;\n";
  f << "daemon off;\nworker_processes 1;\npid " << run << "/nginx.pid;\nerror_log " << run << "/error.log;\n"
    << "events { worker_connections 256; }\n"
    << "http {\n"
    << "  access_log " << run << "/access.log;\n"
    << "  client_body_temp_path " << run << "/tmp; proxy_temp_path " << run << "/tmp;\n"
    << "  fastcgi_temp_path " << run << "/tmp; uwsgi_temp_path " << run << "/tmp; scgi_temp_path " << run
    << "/tmp;\n"
    << "  sendfile on;\n"
    << "  server {\n"
    << "    listen 127.0.0.1:" << port << ";\n"
    << "    root " << bucket << ";\n"
    << "    client_max_body_size 0;\n"
    << "    location / {\n"
    << "      dav_methods PUT DELETE MOVE;\n"
    << "      create_full_put_path on;\n"
    << "      dav_access user:rw group:r all:r;\n"
    << "      autoindex on;\n"
    << "      autoindex_format json;\n"
    << "    }\n"
    << "  }\n"
    << "}\n";
  if (!f) throw std::runtime_error("NginxServer: cannot write " + path);
}

}  // namespace

NginxServer::NginxServer() {
  (void)FindNginx();  // fail early and clearly when nginx is missing
  bucket_dir_ = dir_ / "bucket";
  run_dir_ = dir_ / "run";
  for (const std::string& d : {bucket_dir_, run_dir_, run_dir_ + "/tmp"}) {
    if (::mkdir(d.c_str(), 0755) != 0) throw std::runtime_error("NginxServer: cannot create " + d);
  }
  std::string error;
  for (int i = 0; i < kStartAttempts; ++i) {
    if (TryStart(FreePort(), &error)) return;
  }
  throw std::runtime_error("NginxServer: nginx did not start: " + error);
}

NginxServer::~NginxServer() { Stop(); }

bool NginxServer::TryStart(int port, std::string* error) {
  std::string nginx = FindNginx();
  std::string conf = run_dir_ + "/nginx.conf";
  WriteConfig(conf, run_dir_, bucket_dir_, port);
  std::string stderr_path = run_dir_ + "/stderr.log";
  std::string err_log = run_dir_ + "/error.log";  // built before fork: the child only calls async-signal-safe code
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("NginxServer: fork failed");
  if (pid == 0) {
    ::setpgid(0, 0);                      // its workers share the group, for a last-resort kill
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);   // a crashed test takes its nginx along
    int fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    // -e: without it nginx first tries to open /var/log/nginx/error.log.
    ::execl(nginx.c_str(), "nginx", "-p", run_dir_.c_str(), "-e", err_log.c_str(), "-c", conf.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  port_ = port;
  for (int i = 0; i < kReadyPolls; ++i) {
    int wstatus = 0;
    if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
      pid_ = -1;
      *error = ReadText(run_dir_ + "/error.log") + ReadText(stderr_path);
      return false;
    }
    if (Answers(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Stop();
  *error = "no answer on port " + std::to_string(port) + " within 5 s: " + ReadText(run_dir_ + "/error.log");
  return false;
}

void NginxServer::Stop() {
  if (pid_ <= 0) return;
  pid_t pid = pid_;
  pid_ = -1;
  ::kill(pid, SIGTERM);  // fast shutdown: the master stops its workers, then exits
  for (int i = 0; i < kStopPolls; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(-pid, SIGKILL);  // the master and its workers (their own process group)
  ::waitpid(pid, nullptr, 0);
}

}  // namespace deltaswarm::testing
