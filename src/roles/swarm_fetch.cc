#include "roles/swarm_fetch.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "roles/bucket_layout.h"

namespace deltaswarm {

namespace {
constexpr uint64_t kMaxTorrentBytes = 256ull << 20;
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

Result<std::vector<std::byte>> FetchTorrent(Bucket& bucket, const std::string& model, uint64_t id,
                                            const ManifestArtifact& artifact) {
  std::string key = TorrentKey(model, id, artifact.dir);
  DS_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, bucket.Get(key, kMaxTorrentBytes));
  if (bytes.size() != artifact.torrent_size || Sha256Of(bytes) != artifact.torrent_sha256)
    return Corruption(bucket.Describe(key) + ": differs from the signed manifest (tampered?)");
  return bytes;
}

std::string WebSeedFor(Bucket& bucket, const std::string& model, uint64_t id) {
  std::string url = bucket.Describe(VersionPrefix(model, id));
  bool http = url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
  return http ? url : "";
}

SwarmOptions DownloaderSwarmOptions(const std::string& listen, const std::vector<std::string>& peers,
                                    const std::vector<std::string>& trackers, int upload_rate, int download_rate,
                                    const TlsIdentity& tls) {
  SwarmOptions so;
  so.tls = tls;
  so.listen = listen;
  so.peers = peers;
  so.trackers = trackers;
  so.upload_rate = upload_rate;
  so.download_rate = download_rate;
  so.torrent_web_seeds = false;
  return so;
}

void ReportSwarmProgress(const TorrentStatus& status, const SwarmProgressFn& on_swarm, const ProgressFn& progress) {
  if (on_swarm) {
    on_swarm({status.total_done, status.total_wanted, status.payload_download_rate, status.payload_upload_rate,
              status.peers});
  } else if (progress) {
    progress("swarm", status.total_done, status.total_wanted);
  }
}

namespace {

// libtorrent removes a torrent asynchronously: adding it again may briefly
// find it still there.
Result<TorrentId> ReAdd(Swarm& swarm, std::span<const std::byte> torrent, const std::string& save) {
  const auto start = Clock::now();
  for (;;) {
    auto added = swarm.AddDownload(torrent, save, {});
    if (added.ok() || added.status().code() != Code::kAlreadyExists || Since(start) > 5) return added;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

Status AwaitTorrent(Swarm& swarm, TorrentId& id, std::span<const std::byte> torrent, const std::string& save_path,
                    const AwaitOptions& o) {
  const auto start = Clock::now();
  auto last_change = start;
  uint64_t last_done = 0;
  bool fallback = false;
  double restart_after = o.restart_stalled_s;
  for (;;) {
    if (o.stop && o.stop->load()) return Status(Code::kCancelled, o.what + ": stopped");
    Status st = swarm.WaitFinished(id, 0.25, nullptr);
    TorrentStatus s = swarm.GetStatus(id);
    if (st.ok() || st.code() == Code::kCancelled) ReportSwarmProgress(s, o.on_swarm, o.progress);
    if (st.ok() || st.code() != Code::kCancelled) return st;
    if (s.total_done != last_done) {
      last_done = s.total_done;
      last_change = Clock::now();
    }
    if (!fallback && !o.web_seed.empty() && o.fallback_after_s >= 0 && Since(last_change) >= o.fallback_after_s) {
      DS_RETURN_IF_ERROR(swarm.AddWebSeed(id, o.web_seed));
      fallback = true;
    }
    if (restart_after > 0 && Since(last_change) >= restart_after) {
      swarm.Remove(id);
      id = TorrentId{};
      DS_ASSIGN_OR_RETURN(id, ReAdd(swarm, torrent, save_path));
      last_change = Clock::now();
      fallback = false;
      restart_after = std::min(2 * restart_after, 30.0);
    }
    if (Since(start) > o.timeout_s)
      return Status(Code::kCancelled, o.what + ": not complete after " + std::to_string(static_cast<int>(o.timeout_s)) +
                                          " s (" + std::to_string(s.total_done) + " of " +
                                          std::to_string(s.total_wanted) + " bytes, " + std::to_string(s.peers) +
                                          " peers)");
  }
}

}  // namespace deltaswarm
