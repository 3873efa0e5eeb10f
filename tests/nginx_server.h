// NginxServer: a real nginx with WebDAV (PUT DELETE MOVE) and JSON autoindex,
// serving a fresh bucket directory on a free 127.0.0.1 port, for tests of the
// HTTP bucket. It runs in the foreground as a child of the test; Stop() (also
// run by the destructor) ends exactly that process. Throws std::runtime_error
// when nginx is missing or does not come up.
#pragma once

#include <sys/types.h>

#include <string>

#include "test_util.h"

namespace deltaswarm::testing {

class NginxServer {
 public:
  NginxServer();
  ~NginxServer();
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  // "http://127.0.0.1:PORT"
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  // The directory served at url()/.
  const std::string& bucket_dir() const { return bucket_dir_; }
  // One line per request, with the bytes sent (nginx "combined" format).
  std::string access_log_path() const { return run_dir_ + "/access.log"; }
  bool running() const { return pid_ > 0; }

  // SIGTERM to the nginx master, reaped within a few seconds (SIGKILL to its
  // process group after that). Idempotent.
  void Stop();

 private:
  // Starts nginx on port; false if it exited (e.g. the port was taken meanwhile).
  bool TryStart(int port, std::string* error);

  TempDir dir_;
  std::string bucket_dir_;
  std::string run_dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace deltaswarm::testing
