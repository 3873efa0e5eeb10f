// The torrents a node seeds from the chunks it keeps in its store
// (DIR/chunks/<id>/<kind>/), by version. Not thread-safe; owned by the
// node's loop, beside the swarm and the store it refers to.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "deltaswarm/bucket.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/swarm.h"
#include "roles/local_store.h"

namespace deltaswarm {

class NodeSeeds {
 public:
  NodeSeeds(Swarm& swarm, LocalStore& store, Bucket& bucket, std::string model)
      : swarm_(swarm), store_(store), bucket_(bucket), model_(std::move(model)) {}

  // Records a torrent a pull left seeding in the swarm.
  void Adopt(uint64_t version, TorrentId id) { torrents_[version].push_back(id); }
  // Seeds artifact a of version m.version from store.ChunksDir(m.version):
  // with verify, every object is first checked against the manifest (and
  // fetched again from the bucket if damaged); the torrent always comes from
  // the bucket, checked against the manifest.
  Status Add(const Manifest& m, const ManifestArtifact& a, bool verify);
  // Stops seeding (removes from the swarm) every version not in `versions`.
  void RetainOnly(const std::vector<uint64_t>& versions);
  // Versions with at least one torrent seeding, ascending.
  std::vector<uint64_t> Versions() const;

 private:
  Swarm& swarm_;
  LocalStore& store_;
  Bucket& bucket_;
  std::string model_;
  std::map<uint64_t, std::vector<TorrentId>> torrents_;
};

}  // namespace deltaswarm
