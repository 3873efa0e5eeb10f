// Where things live in a Hub bucket (docs/FORMAT.md):
//   <model>/refs/latest                       the signed latest statement, written last
//   <model>/refs/publisher.lock               who publishes now, until when
//   <model>/versions/<id>/manifest.json       signed
//   <model>/versions/<id>/<delta|keyframe>/   index.dsi and chunk files
//   <model>/versions/<id>/<delta|keyframe>.torrent
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "deltaswarm/bucket.h"
#include "deltaswarm/latest.h"
#include "deltaswarm/manifest.h"

namespace deltaswarm {

Status CheckModelName(const std::string& model);
std::string LatestKey(const std::string& model);
std::string PublisherLockKey(const std::string& model);
std::string VersionPrefix(const std::string& model, uint64_t id);
std::string ManifestKey(const std::string& model, uint64_t id);
std::string TorrentKey(const std::string& model, uint64_t id, const std::string& dir);
std::string ArtifactKey(const std::string& model, uint64_t id, const std::string& dir, const std::string& name);
// Names version id of model in bucket, for messages (a VersionGraph's describe).
std::function<std::string(uint64_t)> VersionNamer(const Bucket& bucket, const std::string& model);

// What refs/latest says, its signature checked against trusted and its model
// against model; statement.version 0 when the model has no version yet.
struct SignedLatest {
  LatestStatement statement;
  std::vector<std::byte> bytes;  // as fetched: a gateway mirrors them unchanged
};
Result<SignedLatest> ReadSignedLatest(Bucket& bucket, const std::string& model, std::span<const TrustedKey> trusted);
// Stores a signed statement: the publisher's, or the bytes a gateway mirrors.
Status PutLatest(Bucket& bucket, const std::string& model, std::span<const std::byte> statement);
// The version refs/latest names, unverified: a statement, or a bare number
// as written before statements were signed; 0 when none. Only for the
// publisher's migration of a bare number (and for tests): followers read
// ReadSignedLatest.
Result<uint64_t> ReadLatestUnverified(Bucket& bucket, const std::string& model);
// The ids of the versions/<id>/ prefixes present, ascending (complete or not).
Result<std::vector<uint64_t>> ListVersions(Bucket& bucket, const std::string& model);
// The manifest of version id, parsed, checked to be the one asked for, and
// signed by a trusted key. signed_bytes (may be null) receives the file as
// fetched, for a mirror that must pass the signature on unchanged.
Result<Manifest> FetchManifest(Bucket& bucket, const std::string& model, uint64_t id,
                               std::span<const TrustedKey> trusted, std::vector<std::byte>* signed_bytes = nullptr);
Result<std::vector<TrustedKey>> LoadTrustedKeys(const std::vector<std::string>& paths);

}  // namespace deltaswarm
