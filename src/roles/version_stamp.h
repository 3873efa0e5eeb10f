// A held version's stamp, DIR/manifests/<id>.stamp (docs/FORMAT.md): the
// record that a full check of version <id>'s files passed (their bytes
// against the kept index's frame hashes, or the manifest's SHA-256s), with
// each file's identity (device, inode, size, mtime) at that moment and the
// SHA-256 of the manifest file it was checked against. While every file
// keeps its identity and the manifest file is the same, the version counts
// as checked without being read again: a write through any name moves the
// mtime, a replacement changes the inode. Bit rot moves neither: a full
// re-check on request (`verify --dest`, `node --scrub`) finds it, and so do
// the frames' base hashes of the next apply that reads those bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/file_identity.h"
#include "deltaswarm/manifest.h"

namespace deltaswarm {

constexpr uint32_t kStampVersion = 1;

struct StampedFile {
  std::string path;  // as in the manifest
  FileIdentity identity;
  bool operator==(const StampedFile&) const = default;
};

struct VersionStamp {
  uint64_t version = 0;
  Sha256 manifest_sha256;          // of DIR/manifests/<id>.json as stored
  std::string checked;             // UTC time of the check (for people)
  std::vector<StampedFile> files;  // the manifest's files, in its order
};

// The path of manifest file f of m, whose checkpoint is at checkpoint_path
// (the directory itself, or the single file).
std::string StampedPath(const Manifest& m, const std::string& checkpoint_path, const ManifestFile& f);

// m's files as they are now: a stamp (without the manifest's hash and time).
Result<VersionStamp> IdentifyVersion(const Manifest& m, const std::string& checkpoint_path);

// Ok when the stamp is for m, and every file still has the identity it
// records; kMismatch naming the first difference.
Status MatchStamp(const VersionStamp& stamp, const Manifest& m, const Sha256& manifest_sha256,
                  const std::string& checkpoint_path);

std::string SerializeStamp(const VersionStamp& stamp);
// kCorruption for a malformed stamp, kUnsupported for another format_version.
Result<VersionStamp> ParseStamp(std::span<const std::byte> bytes, const std::string& where);

}  // namespace deltaswarm
