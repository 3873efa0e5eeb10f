// Getting a version's artifacts over the swarm: the torrent comes from the
// bucket (checked against the signed manifest), the chunks from peers, and the
// bucket's HTTP serves as a web seed only for pieces no peer has provided for
// a while.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "deltaswarm/bucket.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/stop_signal.h"
#include "deltaswarm/swarm.h"

namespace deltaswarm {

// versions/<id>/<dir>.torrent, refused unless its size and SHA-256 are the manifest's.
Result<std::vector<std::byte>> FetchTorrent(Bucket& bucket, const std::string& model, uint64_t id,
                                            const ManifestArtifact& artifact);

// The web seed for version id's torrents: the bucket's URL of versions/<id>/
// for an HTTP bucket, empty otherwise.
std::string WebSeedFor(Bucket& bucket, const std::string& model, uint64_t id);

// The session of a role that downloads: the bucket is a fallback (AwaitTorrent
// adds it as a web seed after a stall), not a peer from the start.
SwarmOptions DownloaderSwarmOptions(const std::string& listen, const std::vector<std::string>& peers,
                                    const std::vector<std::string>& trackers, int upload_rate, int download_rate,
                                    const TlsIdentity& tls, int aio_threads, int hashing_threads);

// Reports a swarm download's status to on_swarm (when set) or else to progress.
void ReportSwarmProgress(const TorrentStatus& status, const SwarmProgressFn& on_swarm, const ProgressFn& progress);

struct AwaitOptions {
  std::string what;                 // "delta 5", for messages
  // Added after fallback_after_s without progress (may be empty), however
  // often the download was restarted meanwhile; a restart after that adds
  // it again at once.
  std::string web_seed;
  double fallback_after_s = 10;     // negative: never
  double timeout_s = 3600;          // then kCancelled
  // > 0: a download without progress (and not restarted) for this long is
  // removed and added again, so that it dials its bootstrap peers afresh
  // (libtorrent retries a peer that refused it, e.g. a seed not yet
  // listening, only after minutes). Doubles each time, up to 30 s.
  double restart_stalled_s = 0;
  const StopSignal* stop = nullptr;  // ends the wait with kCancelled at once (may be null)
  SwarmProgressFn on_swarm;
  ProgressFn progress;
};

// Waits until the torrent (added to swarm as id, saving to save_path) is
// complete. It sleeps until the swarm raises an alert, a stop, or the next
// deadline it needs (progress report, fallback, restart, timeout). id
// changes when the download is re-added.
Status AwaitTorrent(Swarm& swarm, TorrentId& id, std::span<const std::byte> torrent, const std::string& save_path,
                    const AwaitOptions& options);

}  // namespace deltaswarm
