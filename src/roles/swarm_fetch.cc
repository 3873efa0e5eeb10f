#include "roles/swarm_fetch.h"

#include <chrono>

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

void ReportSwarmProgress(const TorrentStatus& status, const SwarmProgressFn& on_swarm, const ProgressFn& progress) {
  if (on_swarm) {
    on_swarm({status.total_done, status.total_wanted, status.payload_download_rate, status.payload_upload_rate,
              status.peers});
  } else if (progress) {
    progress("swarm", status.total_done, status.total_wanted);
  }
}

Status AwaitTorrent(Swarm& swarm, TorrentId id, const std::string& what, const std::string& web_seed,
                    double fallback_after_s, double timeout_s, const SwarmProgressFn& on_swarm,
                    const ProgressFn& progress) {
  const auto start = Clock::now();
  auto last_change = start;
  uint64_t last_done = 0;
  bool fallback = false;
  for (;;) {
    Status st = swarm.WaitFinished(id, 0.25, nullptr);
    TorrentStatus s = swarm.GetStatus(id);
    if (st.ok() || st.code() == Code::kCancelled) ReportSwarmProgress(s, on_swarm, progress);
    if (st.ok() || st.code() != Code::kCancelled) return st;
    if (s.total_done != last_done) {
      last_done = s.total_done;
      last_change = Clock::now();
    }
    if (!fallback && !web_seed.empty() && fallback_after_s >= 0 && Since(last_change) >= fallback_after_s) {
      DS_RETURN_IF_ERROR(swarm.AddWebSeed(id, web_seed));
      fallback = true;
    }
    if (Since(start) > timeout_s)
      return Status(Code::kCancelled, what + ": not complete after " + std::to_string(static_cast<int>(timeout_s)) +
                                          " s (" + std::to_string(s.total_done) + " of " +
                                          std::to_string(s.total_wanted) + " bytes, " + std::to_string(s.peers) +
                                          " peers)");
  }
}

}  // namespace deltaswarm
