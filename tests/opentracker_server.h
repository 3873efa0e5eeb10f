// OpentrackerServer: a real opentracker (the Debian package) on a free
// 127.0.0.1 port, TCP and UDP, whitelisting the info-hashes given, for tests
// of swarms that find each other through a tracker. It runs as a child of the
// test; Stop() (also run by the destructor) ends exactly that process.
// Throws std::runtime_error when opentracker is missing or does not come up.
//
// The Debian build is whitelist-only: a torrent not listed gets "Requested
// download is not authorized for use with this tracker". A whitelist line is
// 40 hex digits: a v1 SHA-1 info-hash, or a v2 SHA-256 info-hash truncated to
// its first 20 bytes. As root, opentracker drops to user "nobody" by itself
// (and refuses `-u root`); as another user it stays that user, so no -u is given.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace deltaswarm::testing {

class OpentrackerServer {
 public:
  // info_hashes: 40 hex digits each, or 64 (a v2 hash, truncated here).
  explicit OpentrackerServer(const std::vector<std::string>& info_hashes);
  ~OpentrackerServer();
  OpentrackerServer(const OpentrackerServer&) = delete;
  OpentrackerServer& operator=(const OpentrackerServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:PORT/announce"
  std::string announce_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/announce"; }
  bool running() const { return pid_ > 0; }

  struct Counts {
    int complete = -1;    // seeders; -1: the scrape failed
    int incomplete = -1;  // leechers
  };
  // Asks the tracker (HTTP /scrape, bounded to 2 s) how many peers it lists
  // for info_hash (40 or 64 hex digits). An unknown torrent counts 0 and 0.
  Counts Scrape(const std::string& info_hash) const;

  // SIGTERM, reaped within a few seconds (SIGKILL after that). Idempotent.
  void Stop();

 private:
  bool TryStart(int port, std::string* error);

  TempDir dir_;
  std::string run_dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace deltaswarm::testing
