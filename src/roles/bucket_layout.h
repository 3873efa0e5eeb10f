// Where things live in a Hub bucket (docs/FORMAT.md):
//   <model>/refs/latest                       "<id>\n", written last
//   <model>/versions/<id>/manifest.json       signed
//   <model>/versions/<id>/<delta|keyframe>/   index.dsi and chunk files
//   <model>/versions/<id>/<delta|keyframe>.torrent
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "deltaswarm/bucket.h"
#include "deltaswarm/manifest.h"

namespace deltaswarm {

Status CheckModelName(const std::string& model);
std::string LatestKey(const std::string& model);
std::string VersionPrefix(const std::string& model, uint64_t id);
std::string ManifestKey(const std::string& model, uint64_t id);
std::string TorrentKey(const std::string& model, uint64_t id, const std::string& dir);
std::string ArtifactKey(const std::string& model, uint64_t id, const std::string& dir, const std::string& name);

// refs/latest as a number; 0 when the model has no version yet.
Result<uint64_t> ReadLatest(Bucket& bucket, const std::string& model);
// The manifest of version id, parsed, checked to be the one asked for, and
// signed by a trusted key.
Result<Manifest> FetchManifest(Bucket& bucket, const std::string& model, uint64_t id,
                               std::span<const TrustedKey> trusted);
Result<std::vector<TrustedKey>> LoadTrustedKeys(const std::vector<std::string>& paths);

}  // namespace deltaswarm
