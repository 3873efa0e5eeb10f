// A node's local store of versions:
//   DIR/versions/<id>/      the checkpoint as published (a file inside, or the files of a directory)
//   DIR/manifests/<id>.json the signed manifest of each complete version
//   DIR/manifests/<id>.dsi  the delta index that built it: its frame hashes
//                           check the version at memory speed
//   DIR/manifests/<id>.stamp the last full check that passed, with the files'
//                           identities then (roles/version_stamp.h)
//   DIR/current             symbolic link to versions/<id>, replaced atomically
//   DIR/staging/<id>/<kind>/ downloaded artifacts, removed once applied
//   DIR/chunks/<id>/<kind>/  a node's kept artifacts (index and chunks) of the
//                           versions it seeds; torrents save to DIR/chunks/<id>
// A version counts as held once its manifest is saved, which happens only
// after its files were verified. Not thread-safe; an open store holds an
// exclusive lock (DIR/lock), so a second process gets kIoError "in use".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/file_identity.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/progress.h"
#include "deltaswarm/status.h"
#include "roles/version_stamp.h"

namespace deltaswarm {

// How far CheckVersion goes: trust a matching stamp, or read every byte.
enum class CheckDepth { kTrustStamp, kFull };

// How CheckVersion found a version intact.
struct VersionCheck {
  bool by_stamp = false;    // its stamp matched: nothing was read
  uint64_t bytes_read = 0;  // bytes of its files read to check them
};

class LocalStore {
 public:
  // Creates the layout if missing and removes leftovers of interrupted runs
  // (temporary names of a killed apply or download).
  static Result<LocalStore> Open(const std::string& dir);
  // Read-only view for reporting: no lock, no cleanup.
  static LocalStore View(const std::string& dir) { return LocalStore(dir, -1); }
  ~LocalStore();
  LocalStore(LocalStore&& other) noexcept;
  LocalStore& operator=(LocalStore&&) = delete;
  LocalStore(const LocalStore&) = delete;

  const std::string& dir() const { return dir_; }
  // The version DIR/current points to; 0 if none.
  uint64_t current() const;
  // Versions whose manifest is saved, ascending.
  std::vector<uint64_t> Versions() const;

  std::string VersionDir(uint64_t id) const;
  std::string StagingDir(uint64_t id) const;
  // Where a node keeps version id's artifacts for seeding (a torrent's save path).
  std::string ChunksDir(uint64_t id) const;
  // Versions with a DIR/chunks/<id>/ directory (complete or not), ascending.
  std::vector<uint64_t> ChunkVersions() const;
  // The checkpoint path of a version: the directory itself, or the single file in it.
  std::string CheckpointPath(const Manifest& m) const;

  Result<Manifest> LoadManifest(uint64_t id) const;
  Status SaveManifest(const Manifest& m);
  // Keeps the index (index.dsi) of the artifact that produced version id.
  Status SaveIndex(uint64_t id, const std::string& index_path);
  // Ok if version m.version's files are intact. kTrustStamp: by its stamp,
  // when every file still has the identity it records; otherwise (and with
  // kFull) by reading them: against the kept index (whose SHA-256 the signed
  // manifest lists; XXH3 per frame, on all cores), or against the manifest's
  // SHA-256s when no index was kept. A full check that passes, on files that
  // kept their identity while it read them, writes a new stamp (not in a
  // View); one that fails removes the stamp. kMismatch when not intact.
  Result<VersionCheck> CheckVersion(const Manifest& m, unsigned threads, CheckDepth depth = CheckDepth::kTrustStamp,
                                    const ProgressFn& progress = nullptr);
  // Stamps version m.version (its manifest saved) as checked now: for a
  // version whose files were just verified (an apply reads back what it wrote).
  Status SaveStamp(const Manifest& m);
  // Stamps it only if its files now have exactly the identities `checked`
  // (taken around the check that proved them, e.g. the publisher's SHA-256
  // of the files it then hard-linked here); else leaves it unstamped.
  Status SaveStampIf(const Manifest& m, const std::vector<FileIdentity>& checked);
  // Removes version id's stamp: its next check reads it in full.
  Status ForgetStamp(uint64_t id);
  // Points DIR/current at versions/<id> (a new link renamed over the old).
  Status SwitchCurrent(uint64_t id);
  // The versions Prune(keep) leaves: the newest `keep` and the current one, ascending.
  std::vector<uint64_t> Survivors(uint64_t keep) const;
  // Removes all but the newest `keep` versions (never the current one).
  Status Prune(uint64_t keep);
  // Removes the kept chunks of every version not in `seeded`, except those
  // newer than every held version (a download to resume).
  Status PruneChunks(const std::vector<uint64_t>& seeded);
  // Forgets a version (its files, manifest and kept chunks).
  Status Remove(uint64_t id);
  // Forgets a version's checkpoint and manifest, keeping its chunks (still seeded).
  Status RemoveFiles(uint64_t id);

 private:
  LocalStore(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}
  std::string StampPath(uint64_t id) const;
  std::string ManifestPath(uint64_t id) const;
  // The full check, without stamps: bytes read.
  Result<uint64_t> ReadAndCheck(const Manifest& m, unsigned threads, const ProgressFn& progress) const;
  Status WriteStamp(const Manifest& m, VersionStamp stamp);
  std::string dir_;
  int lock_fd_ = -1;
};

}  // namespace deltaswarm
