// AwaitTorrent (src/roles/swarm_fetch.h) in one process, against a real nginx
// bucket as the web seed: its timers are independent (a stalled download is
// restarted, and still falls back to the web seed on time) and a stop ends it
// at once. The bootstrap peer is a closed port on 127.0.0.1, so no peer ever
// delivers. Every wait is bounded; sessions and nginx stop on scope exit.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cluster_certificates.h"
#include "deltaswarm/stop_signal.h"
#include "deltaswarm/swarm.h"
#include "nginx_server.h"
#include "roles/swarm_fetch.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

const ClusterCertificates& Certificates() {
  static const ClusterCertificates certs;
  return certs;
}

// An artifact-like directory (index.dsi, two chunks) in nginx's bucket, as
// versions/1/delta/, and its TLS torrent of the cluster CA.
TorrentFile PublishPayload(const NginxServer& nginx) {
  const std::string dir = nginx.bucket_dir() + "/m/versions/1/delta";
  fs::create_directories(dir);
  WriteBytes(dir + "/index.dsi", RandomBytes(3000, 1));
  WriteBytes(dir + "/chunk-000000.dsc", RandomBytes(1'500'000, 2));
  WriteBytes(dir + "/chunk-000001.dsc", RandomBytes(1'234'567, 3));
  TorrentAccess access;
  access.ca_cert_pem = ReadFileText(Certificates().ca_cert());
  access.crl_pem = ReadFileText(Certificates().crl());
  auto t = MakeTorrent(dir, "delta", {}, access);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(t).value();
}

// A downloading role's session whose only bootstrap peer never answers.
std::unique_ptr<Swarm> StartDownloader() {
  const std::string dead_peer = "127.0.0.1:" + std::to_string(FreeTcpPorts(1).front());
  auto s = Swarm::Start(DownloaderSwarmOptions("127.0.0.1:0", {dead_peer}, {}, 0, 0,
                                               Certificates().Identity(Certificates().node), 2, 1));
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return std::move(s).value();
}

}  // namespace

TEST_CASE("stall restarts neither postpone the web-seed fallback nor keep it from completing") {
  NginxServer nginx;
  TempDir tmp;
  const TorrentFile t = PublishPayload(nginx);
  auto swarm = StartDownloader();
  auto added = swarm->AddDownload(t.bytes, tmp / "node", {});
  REQUIRE(added.ok());
  TorrentId id = *added;

  AwaitOptions o;
  o.what = "delta 1";
  o.web_seed = nginx.url() + "/m/versions/1/";
  o.fallback_after_s = 4;
  // Restarts at 0.5, 1.5 and 3.5 s (then 7.5 s) while no peer delivers.
  // When each restart also restarted the fallback's clock and dropped the web
  // seed, the web seed came at 11.5 s at the earliest (and with
  // fallback_after_s >= 30, the restart cap, never): past this timeout.
  o.restart_stalled_s = 0.5;
  o.timeout_s = 11;
  const auto start = Clock::now();
  Status st = AwaitTorrent(*swarm, id, t.bytes, tmp / "node", o);
  const double elapsed = SecondsSince(start);
  MESSAGE("AwaitTorrent returned after " << elapsed << " s: " << st.ToString());
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(elapsed >= 3.99);  // not before fallback_after_s
  CHECK(id.value != added->value);  // restarted meanwhile: AwaitTorrent re-added it
  CHECK(SameTree(nginx.bucket_dir() + "/m/versions/1/delta", tmp / "node/delta"));
  CHECK(ReadFileText(nginx.access_log_path()).find("GET /m/versions/1/delta/chunk-000000.dsc") != std::string::npos);
}

TEST_CASE("a stop ends AwaitTorrent at once, long before its timers") {
  NginxServer nginx;
  TempDir tmp;
  const TorrentFile t = PublishPayload(nginx);
  auto swarm = StartDownloader();
  auto added = swarm->AddDownload(t.bytes, tmp / "node", {});
  REQUIRE(added.ok());
  TorrentId id = *added;

  StopSignal stop;
  AwaitOptions o;
  o.what = "delta 1";
  o.web_seed = nginx.url() + "/m/versions/1/";
  o.fallback_after_s = 60;
  o.restart_stalled_s = 60;
  o.timeout_s = 120;
  o.stop = &stop;
  std::thread requester([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop.Request();
  });
  const auto start = Clock::now();
  Status st = AwaitTorrent(*swarm, id, t.bytes, tmp / "node", o);
  requester.join();
  CHECK(st.code() == Code::kCancelled);
  CHECK(st.message() == "delta 1: stopped");
  CHECK(SecondsSince(start) < 10);
  CHECK(ReadFileText(nginx.access_log_path()).find("/m/versions/1/delta/") == std::string::npos);  // no fallback
}
