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
// The ids of the versions/<id>/ prefixes present, ascending (complete or not).
Result<std::vector<uint64_t>> ListVersions(Bucket& bucket, const std::string& model);
// Points refs/latest at id (the publisher's last write; a gateway's mirror).
Status WriteLatest(Bucket& bucket, const std::string& model, uint64_t id);
// The manifest of version id, parsed, checked to be the one asked for, and
// signed by a trusted key. signed_bytes (may be null) receives the file as
// fetched, for a mirror that must pass the signature on unchanged.
Result<Manifest> FetchManifest(Bucket& bucket, const std::string& model, uint64_t id,
                               std::span<const TrustedKey> trusted, std::vector<std::byte>* signed_bytes = nullptr);
Result<std::vector<TrustedKey>> LoadTrustedKeys(const std::vector<std::string>& paths);

}  // namespace deltaswarm
