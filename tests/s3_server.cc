#include "s3_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace deltaswarm::testing {

namespace {

constexpr int kStartAttempts = 3;  // ports tried before giving up
constexpr int kReadyPolls = 150;   // x 100 ms until s3rver must answer (Node starts slowly on a busy machine)

std::string FindNode() {
  for (const char* p : {"/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  throw std::runtime_error("S3Server: Node.js is not installed (apt-get install nodejs)");
}

std::string FindS3rver() {
  const char* env = std::getenv("DS_S3RVER_JS");
  std::string js = env && *env ? env : DS_S3RVER_JS;
  if (::access(js.c_str(), R_OK) != 0) {
    throw std::runtime_error("S3Server: " + js + " is missing (run scripts/install-deps.sh, or set DS_S3RVER_JS)");
  }
  return js;
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

}  // namespace

S3Server::S3Server(std::string bucket) : bucket_(std::move(bucket)) {
  const std::string node = FindNode(), js = FindS3rver();
  data_dir_ = dir_ / "data";
  log_path_ = dir_ / "s3rver.log";
  if (::mkdir(data_dir_.c_str(), 0755) != 0) throw std::runtime_error("S3Server: cannot create " + data_dir_);
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    port_ = FreeTcpPorts(1).at(0);
    // --openssl-legacy-provider: s3rver's continuation tokens use DES, which
    // Node 20's OpenSSL 3 only has in the legacy provider (else every
    // truncated listing answers 500).
    int pid = SpawnProgram(node, {"--openssl-legacy-provider", js, "--directory", data_dir_, "--address",
                                  "127.0.0.1", "--port", std::to_string(port_), "--silent",
                                  "--configure-bucket", bucket_},
                           log_path_, log_path_);
    if (pid < 0) throw std::runtime_error("S3Server: fork failed");
    process_ = ChildProcess(pid, 5);
    for (int i = 0; i < kReadyPolls; ++i) {
      // Exited (the port was taken meanwhile?): WNOWAIT leaves reaping to Stop().
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) break;
      // The bucket is created before the server listens: an answer means ready.
      if (Answers(port_)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    process_.Stop();
  }
  throw std::runtime_error("S3Server: s3rver did not start: " + ReadFileText(log_path_));
}

std::string S3Server::url(const std::string& prefix) const {
  return "s3://" + bucket_ + (prefix.empty() ? "" : "/" + prefix) + "?endpoint=" + endpoint();
}

std::string S3Server::ObjectPath(const std::string& full_key) const {
  return bucket_dir() + "/" + full_key + "._S3rver_object";
}

void S3Server::ExportCredentials() {
  ::setenv("AWS_ACCESS_KEY_ID", kAccessKey, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", kSecretKey, 1);
  ::unsetenv("AWS_SESSION_TOKEN");
  ::unsetenv("AWS_PROFILE");
}

std::string S3Server::CurlSigningArgs() {
  return std::string("--aws-sigv4 aws:amz:us-east-1:s3 --user ") + kAccessKey + ":" + kSecretKey +
         " -H x-amz-content-sha256:UNSIGNED-PAYLOAD";
}

}  // namespace deltaswarm::testing
