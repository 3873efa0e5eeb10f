#include "roles/node_seeds.h"

#include <algorithm>

#include "roles/artifact_transfer.h"
#include "roles/swarm_fetch.h"

namespace deltaswarm {

Status NodeSeeds::Add(const Manifest& m, const ManifestArtifact& a, bool verify) {
  const std::string save = store_.ChunksDir(m.version);
  if (verify) DS_RETURN_IF_ERROR(DownloadArtifact(bucket_, model_, m.version, a, save + "/" + a.dir, nullptr).status());
  DS_ASSIGN_OR_RETURN(std::vector<std::byte> torrent, FetchTorrent(bucket_, model_, m.version, a));
  DS_ASSIGN_OR_RETURN(TorrentId id, swarm_.AddSeed(torrent, save));
  torrents_[m.version].push_back(id);
  return Status::Ok();
}

void NodeSeeds::RetainOnly(const std::vector<uint64_t>& versions) {
  for (auto it = torrents_.begin(); it != torrents_.end();) {
    if (std::find(versions.begin(), versions.end(), it->first) != versions.end()) {
      ++it;
      continue;
    }
    for (TorrentId id : it->second) swarm_.Remove(id);
    it = torrents_.erase(it);
  }
}

std::vector<uint64_t> NodeSeeds::Versions() const {
  std::vector<uint64_t> out;
  for (const auto& [v, ids] : torrents_)
    if (!ids.empty()) out.push_back(v);
  return out;
}

}  // namespace deltaswarm
