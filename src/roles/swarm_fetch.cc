#include "roles/swarm_fetch.h"

#include <algorithm>
#include <chrono>

#include "roles/bucket_layout.h"

namespace deltaswarm {

namespace {
// A 4 TB hybrid torrent is about 30 MB; its SHA-256 is checked against the
// signed manifest before libtorrent parses it. The read is bounded by the
// manifest's torrent_size, and never more than this.
constexpr uint64_t kMaxTorrentBytes = 64ull << 20;
using Clock = SteadyClock;
}  // namespace

Result<std::vector<std::byte>> FetchTorrent(Bucket& bucket, const std::string& model, uint64_t id,
                                            const ManifestArtifact& artifact) {
  std::string key = TorrentKey(model, id, artifact.dir);
  DS_ASSIGN_OR_RETURN(std::vector<std::byte> bytes,
                      bucket.Get(key, std::min(artifact.torrent_size, kMaxTorrentBytes)));
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
                                    const TlsIdentity& tls, int aio_threads, int hashing_threads) {
  SwarmOptions so;
  so.tls = tls;
  so.listen = listen;
  so.peers = peers;
  so.trackers = trackers;
  so.upload_rate = upload_rate;
  so.download_rate = download_rate;
  so.torrent_web_seeds = false;
  so.aio_threads = aio_threads;
  so.hashing_threads = hashing_threads;
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

constexpr double kReportIntervalS = 0.25;  // progress callbacks while downloading
constexpr double kMaxRestartS = 30;

// libtorrent removes a torrent asynchronously: adding it again may briefly
// find it still there, until the removal's alert.
Result<TorrentId> ReAdd(Swarm& swarm, std::span<const std::byte> torrent, const std::string& save) {
  const auto give_up = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    const uint64_t alerts = swarm.AlertCount();
    auto added = swarm.AddDownload(torrent, save, {});
    if (added.ok() || added.status().code() != Code::kAlreadyExists || Clock::now() >= give_up) return added;
    swarm.WaitForChange(alerts, give_up);
  }
}

}  // namespace

Status AwaitTorrent(Swarm& swarm, TorrentId& id, std::span<const std::byte> torrent, const std::string& save_path,
                    const AwaitOptions& o) {
  const auto start = Clock::now();
  const auto give_up = DeadlineAfter(o.timeout_s, start);
  const bool reports = o.on_swarm || o.progress;
  const bool can_fall_back = !o.web_seed.empty() && o.fallback_after_s >= 0;
  // Two independent timers. Progress is a new high of verified bytes: a
  // re-added download re-checks its pieces back up to the old count, which
  // is no progress. The fallback counts from the last progress only, so
  // restarts do not postpone it; a restart counts from the later of the last
  // progress and the last restart.
  uint64_t most_done = 0;
  auto last_progress = start, last_restart = start, next_report = start;
  bool fallen_back = false;
  double restart_after = o.restart_stalled_s;
  for (;;) {
    const uint64_t alerts = swarm.AlertCount();
    const TorrentStatus s = swarm.GetStatus(id);
    const auto now = Clock::now();
    if (!s.error.empty()) return IoError(o.what + ": " + s.error);
    if (s.finished || (reports && now >= next_report)) {
      ReportSwarmProgress(s, o.on_swarm, o.progress);
      next_report = DeadlineAfter(kReportIntervalS, now);
    }
    if (s.finished) return Status::Ok();
    if (o.stop && o.stop->requested()) return Status(Code::kCancelled, o.what + ": stopped");
    if (s.total_done > most_done) {
      most_done = s.total_done;
      last_progress = now;
    }
    const auto fallback_at = DeadlineAfter(o.fallback_after_s, last_progress);
    if (can_fall_back && !fallen_back && now >= fallback_at) {
      DS_RETURN_IF_ERROR(swarm.AddWebSeed(id, o.web_seed));
      fallen_back = true;
    }
    const auto restart_at = DeadlineAfter(restart_after, std::max(last_progress, last_restart));
    if (restart_after > 0 && now >= restart_at) {
      swarm.Remove(id);
      id = TorrentId{};
      DS_ASSIGN_OR_RETURN(id, ReAdd(swarm, torrent, save_path));
      // The web seed was this node's own, not the torrent's: add it again.
      if (fallen_back) DS_RETURN_IF_ERROR(swarm.AddWebSeed(id, o.web_seed));
      last_restart = Clock::now();
      restart_after = std::min(2 * restart_after, kMaxRestartS);
      continue;
    }
    if (now >= give_up)
      return Status(Code::kCancelled, o.what + ": not complete after " + std::to_string(static_cast<int>(o.timeout_s)) +
                                          " s (" + std::to_string(s.total_done) + " of " +
                                          std::to_string(s.total_wanted) + " bytes, " + std::to_string(s.peers) +
                                          " peers)");
    // Sleeps until an alert (a piece passed, the torrent finished or
    // failed), a stop, or the next deadline of the timers above.
    auto wake = give_up;
    if (reports) wake = std::min(wake, next_report);
    if (can_fall_back && !fallen_back) wake = std::min(wake, fallback_at);
    if (restart_after > 0) wake = std::min(wake, restart_at);
    swarm.WaitForChange(alerts, wake, o.stop);
  }
}

}  // namespace deltaswarm
