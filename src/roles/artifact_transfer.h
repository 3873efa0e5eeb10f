// Moving a delta or keyframe directory between a local disk and a bucket, with
// every object checked against the manifest's sizes and SHA-256s.
#pragma once

#include <string>
#include <vector>

#include "deltaswarm/bucket.h"
#include "deltaswarm/delta_index.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/stop_signal.h"

namespace deltaswarm {

// Describes a delta directory written by Diff for a manifest: index and chunks.
Result<ManifestArtifact> DescribeArtifact(const std::string& delta_dir, const std::string& kind, uint64_t base_version);

// Uploads index and chunks to versions/<id>/<artifact.dir>/, each created
// (kAlreadyExists if there: nothing published is replaced); returns bytes sent.
Result<uint64_t> UploadArtifact(Bucket& bucket, const std::string& model, uint64_t id,
                                const ManifestArtifact& artifact, const std::string& delta_dir,
                                const ProgressFn& progress);

// Downloads the artifact into local_dir (created), skipping objects already
// there and intact (a resumed pull); checks every object's size and SHA-256.
// Each object is read bounded by its size in the manifest: one that is larger
// or smaller is kCorruption naming it, and no more than its listed size is
// written. Returns bytes downloaded. Once *stop (may be null) is requested it
// ends with kCancelled within about a second, in the middle of an object too
// (whose partial file is removed), keeping the verified ones for a resume.
// *hashed (may be null) gets the bytes whose SHA-256 it computed.
Result<uint64_t> DownloadArtifact(Bucket& bucket, const std::string& model, uint64_t id,
                                  const ManifestArtifact& artifact, const std::string& local_dir,
                                  const ProgressFn& progress, const StopSignal* stop = nullptr,
                                  uint64_t* hashed = nullptr);

// What remains to check of an artifact a swarm download just completed in
// local_dir: libtorrent checked every piece against the torrent, whose
// SHA-256 the signed manifest lists, so its chunks are not hashed again.
// Checks the index's SHA-256 (what Apply parses its frame hashes from) and
// every object's size; kCorruption or kNotFound otherwise (then fetch it
// with DownloadArtifact, which hashes everything). *hashed gets the bytes hashed.
Status CheckSwarmArtifact(const ManifestArtifact& artifact, const std::string& local_dir, uint64_t* hashed);

// The artifact's chunks as index entries, for ApplyOptions::verified_chunks
// once they were checked against the manifest.
std::vector<DeltaChunk> ChunksOf(const ManifestArtifact& artifact);

}  // namespace deltaswarm
