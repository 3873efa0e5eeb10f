// Getting a version's artifacts over the swarm: the torrent comes from the
// bucket (checked against the signed manifest), the chunks from peers, and the
// bucket's HTTP serves as a web seed only for pieces no peer has provided for
// a while.
#pragma once

#include <string>
#include <vector>

#include "deltaswarm/bucket.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/swarm.h"

namespace deltaswarm {

// versions/<id>/<dir>.torrent, refused unless its size and SHA-256 are the manifest's.
Result<std::vector<std::byte>> FetchTorrent(Bucket& bucket, const std::string& model, uint64_t id,
                                            const ManifestArtifact& artifact);

// The web seed for version id's torrents: the bucket's URL of versions/<id>/
// for an HTTP bucket, empty otherwise.
std::string WebSeedFor(Bucket& bucket, const std::string& model, uint64_t id);

// Reports a swarm download's status to on_swarm (when set) or else to progress.
void ReportSwarmProgress(const TorrentStatus& status, const SwarmProgressFn& on_swarm, const ProgressFn& progress);

// Waits until the torrent is complete; after fallback_after_s without progress
// (negative: never) adds web_seed (if any). kCancelled after timeout_s.
Status AwaitTorrent(Swarm& swarm, TorrentId id, const std::string& what, const std::string& web_seed,
                    double fallback_after_s, double timeout_s, const SwarmProgressFn& on_swarm,
                    const ProgressFn& progress);

}  // namespace deltaswarm
