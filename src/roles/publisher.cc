// deltaswarm publish: diff against the previous published version (kept in a
// local store), upload chunks, then the signed manifest, then the signed
// latest statement. One publisher at a time (PublisherLock, and the state
// store's own lock, both held for the whole publish); a version's objects are
// created, never replaced, so history is never rewritten.
#include <algorithm>
#include <future>
#include <memory>
#include <optional>

#include "core/file.h"
#include "core/file_system.h"
#include "deltaswarm/utc_time.h"
#include "deltaswarm/bucket.h"
#include "deltaswarm/latest.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/swarm.h"
#include "roles/artifact_transfer.h"
#include "roles/bucket_layout.h"
#include "roles/checkpoint_sha.h"
#include "roles/local_store.h"
#include "roles/puller.h"
#include "roles/publisher_lock.h"

namespace deltaswarm {

namespace {

// The version the bucket's refs/latest names (0: none), its signature checked
// with the publisher's own public key. A bare number, as written before
// latest statements were signed, is accepted here only: the publisher is its
// author, and replaces it with a signed statement.
Result<uint64_t> PublishedLatest(Bucket& bucket, const std::string& model, std::span<const TrustedKey> trusted,
                                 std::string* note) {
  auto signed_latest = ReadSignedLatest(bucket, model, trusted);
  if (signed_latest.ok()) return signed_latest->statement.version;
  if (signed_latest.status().code() != Code::kUnsupported) return signed_latest.status();
  DS_ASSIGN_OR_RETURN(uint64_t legacy, ReadLatestUnverified(bucket, model));
  *note = "refs/latest was an unsigned version number (" + std::to_string(legacy) + "): now a signed statement";
  return legacy;
}

bool SameFiles(const std::vector<ManifestFile>& a, const std::vector<ManifestFile>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const ManifestFile& x, const ManifestFile& y) {
    return x.path == y.path && x.size == y.size && x.sha256 == y.sha256;
  });
}

// Signs and stores the statement that version id (whose stored manifest is
// manifest_bytes) is the newest, valid for o.latest_valid_s.
Status GoLive(const PublishOptions& o, Bucket& bucket, const SigningKey& key, uint64_t id,
              std::span<const std::byte> manifest_bytes) {
  LatestStatement s;
  s.model = o.model;
  s.version = id;
  s.manifest_sha256 = Sha256Of(manifest_bytes);
  s.issued = UnixNow();
  s.expires = s.issued + static_cast<int64_t>(o.latest_valid_s);
  DS_RETURN_IF_ERROR(SignLatest(s, key));
  std::string text = SerializeLatest(s);
  return PutLatest(bucket, o.model, std::as_bytes(std::span(text)));
}

// What a publish finds at versions/<id>/ before it writes there. A signed,
// complete version (a publish stopped between its manifest and refs/latest)
// is made live, never replaced: the caller then publishes on top of it.
// Unsigned leftovers (a publish stopped while uploading) are removed: nothing
// in them was ever part of history, and the caller holds the publisher lock.
Result<bool> AdoptStoppedPublish(const PublishOptions& o, Bucket& bucket, const SigningKey& key,
                                 std::span<const TrustedKey> trusted, uint64_t latest, uint64_t id,
                                 std::string* note) {
  DS_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, ListVersions(bucket, o.model));
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) return false;
  std::vector<std::byte> bytes;
  auto m = FetchManifest(bucket, o.model, id, trusted, &bytes);
  if (m.status().code() == Code::kNotFound) {
    DS_RETURN_IF_ERROR(bucket.Delete(VersionPrefix(o.model, id)));
    *note = "removed the unsigned leftovers of a publish of version " + std::to_string(id) + " that stopped";
    return false;
  }
  if (!m.ok())
    return Mismatch(m.status().message() + ": version " + std::to_string(id) +
                    " exists and is not this publisher's; refusing to publish over it");
  if (m->parent != latest)
    return Mismatch(bucket.Describe(ManifestKey(o.model, id)) + ": version " + std::to_string(id) +
                    " exists with parent " + std::to_string(m->parent) + ", not the live version " +
                    std::to_string(latest) + "; refusing to publish over it");
  DS_RETURN_IF_ERROR(GoLive(o, bucket, key, id, bytes));
  *note = "version " + std::to_string(id) + " was complete but not live (a publish stopped before refs/latest): made it live";
  return true;
}

// Makes sure the state store holds version `latest` intact, as the bucket
// has it; fetches it from the bucket (as a node would, on the open store)
// when it does not. A held version that differs from the bucket's of the
// same id means two histories: refused.
Result<Manifest> EnsurePrevious(const PublishOptions& o, Bucket& bucket, LocalStore& store,
                                std::span<const TrustedKey> trusted, uint64_t latest, const ProgressFn& progress) {
  DS_ASSIGN_OR_RETURN(Manifest published, FetchManifest(bucket, o.model, latest, trusted));
  if (store.current() == latest) {
    DS_ASSIGN_OR_RETURN(Manifest m, store.LoadManifest(latest));
    if (CanonicalBytes(m) != CanonicalBytes(published))
      return Mismatch(store.dir() + ": holds a version " + std::to_string(latest) + " other than the bucket's (" +
                      bucket.Describe(ManifestKey(o.model, latest)) + "): two histories; refusing to publish");
    // By its stamp when the files kept their identity since a check (the
    // last publish hashed them, or a pull verified them): no second read.
    if (store.CheckVersion(m, o.diff.threads).ok()) return m;
    DS_RETURN_IF_ERROR(store.Remove(latest));
  }
  PullOptions pull;
  pull.bucket = o.bucket;
  pull.model = o.model;
  pull.dest = o.state;
  pull.version = latest;
  pull.keep = o.keep;
  pull.threads = o.diff.threads;
  pull.tls = o.tls;
  DS_RETURN_IF_ERROR(PullInto(pull, bucket, store, trusted, PullContext{}, progress).status());
  return store.LoadManifest(latest);
}

// Keeps the published checkpoint in the state store as version m.version:
// hard links where possible (a copy of 4 TB would dominate publish). If the
// trainer later rewrites those files in place, the next publish notices
// (CheckVersion) and fetches the version from the bucket instead.
// Stamped as checked when the kept files are the very ones (same identity)
// whose SHA-256 this publish took, unchanged since: the next publish then
// needs no read of them.
Status KeepCopy(const PublishOptions& o, LocalStore& store, const Manifest& m, const std::string& index_path,
                const std::vector<FileIdentity>& hashed) {
  std::string dst = store.CheckpointPath(m);
  DS_RETURN_IF_ERROR(RemoveAll(store.VersionDir(m.version)));
  DS_RETURN_IF_ERROR(CopyTreeDurably(o.checkpoint, dst, /*hard_link=*/true));
  DS_RETURN_IF_ERROR(store.SaveIndex(m.version, index_path));
  DS_RETURN_IF_ERROR(store.SaveManifest(m));
  DS_RETURN_IF_ERROR(store.SaveStampIf(m, hashed));
  DS_RETURN_IF_ERROR(store.SwitchCurrent(m.version));
  return store.Prune(o.keep);
}

// What the new version's torrents admit: open, or TLS torrents of o.tls.ca
// with its revocation list. Read before any work, so that a bad file fails
// the publish at once.
Result<TorrentAccess> TorrentAccessFor(const PublishOptions& o) {
  TorrentAccess access;
  if (o.tls.ca.empty()) {
    if (!o.tls_crl.empty()) return InvalidArgument("tls_crl " + o.tls_crl + ": a revocation list needs tls_ca");
    return access;
  }
  DS_ASSIGN_OR_RETURN(access.ca_cert_pem, ReadPemFile(o.tls.ca));
  if (!o.tls_crl.empty()) {
    DS_ASSIGN_OR_RETURN(access.crl_pem, ReadPemFile(o.tls_crl));
  }
  return access;
}

}  // namespace

Result<PublishReport> Publish(const PublishOptions& o, const ProgressFn& progress) {
  DS_RETURN_IF_ERROR(CheckModelName(o.model));
  if (o.keyframe_every == 0) return InvalidArgument("keyframe interval must be at least 1");
  if (o.checkpoint.empty()) return InvalidArgument("no checkpoint to publish");
  if (!PathExists(o.checkpoint)) return NotFound(o.checkpoint + ": no such file or directory");
  DS_ASSIGN_OR_RETURN(SigningKey key, SigningKey::Load(o.key));
  DS_ASSIGN_OR_RETURN(std::vector<TrustedKey> trusted, LoadTrustedKeys({o.key + ".pub"}));
  DS_ASSIGN_OR_RETURN(const TorrentAccess access, TorrentAccessFor(o));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> bucket, OpenBucket(o.bucket, /*create=*/true, o.tls));
  DS_ASSIGN_OR_RETURN(LocalStore store, LocalStore::Open(o.state));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<PublisherLock> lock, PublisherLock::Acquire(*bucket, o.model, o.state));
  PublishReport report;
  DS_ASSIGN_OR_RETURN(uint64_t latest, PublishedLatest(*bucket, o.model, trusted, &report.note));
  if (store.current() > latest)
    return Mismatch(bucket->Describe(LatestKey(o.model)) + " names version " + std::to_string(latest) +
                    ", older than version " + std::to_string(store.current()) + " in the state store " + o.state +
                    ": refusing to publish over history (a rewound refs/latest, or another bucket's state store)");
  // SHA-256 of the new files runs beside the diff: both read the same pages.
  std::vector<FileIdentity> hashed;  // the files' identities while they were hashed
  auto hashing = std::async(std::launch::async, [&] { return HashCheckpointFiles(o.checkpoint, 1, &hashed); });
  std::string adopted;
  DS_ASSIGN_OR_RETURN(bool stopped_publish, AdoptStoppedPublish(o, *bucket, key, trusted, latest, latest + 1, &adopted));
  if (!adopted.empty()) report.note += (report.note.empty() ? "" : "; ") + adopted;
  if (stopped_publish) ++latest;
  const uint64_t id = latest + 1;

  Manifest m;
  m.model = o.model;
  m.version = id;
  m.parent = latest;
  m.target_is_directory = IsDirectory(o.checkpoint);
  m.frame_bytes = o.diff.frame_bytes;
  m.chunk_bytes = o.diff.chunk_bytes;
  m.zstd_level = o.diff.zstd_level;
  m.created = FormatUtc(UnixNow());
  std::optional<Manifest> prev;
  if (latest > 0) {
    DS_ASSIGN_OR_RETURN(prev, EnsurePrevious(o, *bucket, store, trusted, latest, progress));
    if (prev->target_is_directory != m.target_is_directory)
      return InvalidArgument(o.checkpoint + ": version " + std::to_string(latest) + " was published as a " +
                             (prev->target_is_directory ? "directory" : "single file"));
  }

  // The diff does not wait for the SHA-256 (both take a pass over the
  // files): whether there is anything new to publish is known after both.
  std::string staging = store.StagingDir(id);
  DiffOptions diff = o.diff;
  diff.force = true;  // leftovers of a publish killed earlier
  auto add_keyframe = [&]() -> Status {
    DS_RETURN_IF_ERROR(Diff("", o.checkpoint, staging + "/keyframe", diff, progress).status());
    DS_ASSIGN_OR_RETURN(ManifestArtifact a, DescribeArtifact(staging + "/keyframe", "keyframe", 0));
    report.keyframe_bytes = a.bytes();
    m.artifacts.push_back(std::move(a));
    return Status::Ok();
  };
  const bool keyframe = (id - 1) % o.keyframe_every == 0;
  if (prev) {
    DS_RETURN_IF_ERROR(Diff(store.CheckpointPath(*prev), o.checkpoint, staging + "/delta", diff, progress).status());
    DS_ASSIGN_OR_RETURN(ManifestArtifact a, DescribeArtifact(staging + "/delta", "delta", latest));
    report.delta_bytes = a.bytes();
    m.artifacts.push_back(std::move(a));
  } else if (keyframe) {
    DS_RETURN_IF_ERROR(add_keyframe());
  }
  DS_ASSIGN_OR_RETURN(m.files, hashing.get());
  for (const auto& f : m.files) report.target_bytes += f.size;
  // Publishing the live version's very files again is done already: the
  // re-run of a publish killed at any point past its manifest ends here.
  if (prev && SameFiles(m.files, prev->files)) {
    if (!stopped_publish)
      report.note += (report.note.empty() ? "" : "; ") +
                     ("version " + std::to_string(latest) + " already is this checkpoint: nothing new published");
    report.version = latest;
    report.delta_bytes = 0;
    DS_RETURN_IF_ERROR(RemoveAll(staging));
    return report;
  }
  report.version = id;
  // Beside a delta, only once there is something new (a keyframe costs a full encode).
  if (prev && keyframe) DS_RETURN_IF_ERROR(add_keyframe());
  // A torrent of each artifact directory, named after it so that web-seed
  // requests (<url><name>/<file>) land on the bucket's objects; a TLS torrent
  // of the cluster CA when one is given.
  std::vector<TorrentFile> torrents;
  std::vector<std::string> web_seeds;
  if (o.bucket.rfind("http://", 0) == 0 || o.bucket.rfind("https://", 0) == 0) {
    std::string base = o.bucket;
    while (!base.empty() && base.back() == '/') base.pop_back();
    web_seeds.push_back(base + "/" + VersionPrefix(o.model, id));
  }
  for (auto& a : m.artifacts) {
    DS_ASSIGN_OR_RETURN(TorrentFile t, MakeTorrent(staging + "/" + a.dir, a.dir, web_seeds, access));
    a.torrent_size = t.bytes.size();
    a.torrent_sha256 = Sha256Of(t.bytes);
    if (!ParseHex(t.info_hash_v2_hex, &a.info_hash)) return Corruption("torrent: bad info-hash");
    torrents.push_back(std::move(t));
  }
  DS_RETURN_IF_ERROR(SignManifest(m, key));

  // Chunks and indexes, then the manifest, then refs/latest: a reader that
  // sees a version sees all of it. Every object is created, never replaced.
  for (size_t i = 0; i < m.artifacts.size(); ++i) {
    const ManifestArtifact& a = m.artifacts[i];
    DS_ASSIGN_OR_RETURN(uint64_t sent, UploadArtifact(*bucket, o.model, id, a, staging + "/" + a.dir, progress));
    DS_RETURN_IF_ERROR(bucket->Create(TorrentKey(o.model, id, a.dir), torrents[i].bytes));
    report.uploaded_bytes += sent + torrents[i].bytes.size();
  }
  std::string manifest_text = SerializeManifest(m);
  const auto manifest_bytes = std::as_bytes(std::span(manifest_text));
  DS_RETURN_IF_ERROR(bucket->Create(ManifestKey(o.model, id), manifest_bytes));
  // The state store keeps the index (below) from the staging directory, or from where the chunks went.
  std::string index = staging + "/" + m.artifacts.front().dir + "/" + kIndexFileName;
  if (o.keep_chunks) {
    // publish --seed serves these: same filesystem, so a rename, not a copy.
    // Failing only costs the seed a download from the bucket.
    std::string chunks = store.ChunksDir(id);
    Status moved = RemoveAll(chunks);
    if (moved.ok()) moved = Rename(staging, chunks);
    if (moved.ok()) index = chunks + "/" + m.artifacts.front().dir + "/" + kIndexFileName;
    else report.note += (report.note.empty() ? "" : "; ") + ("chunks not kept: " + moved.message());
  }
  if (o.before_live) DS_RETURN_IF_ERROR(o.before_live(id));
  DS_RETURN_IF_ERROR(GoLive(o, *bucket, key, id, manifest_bytes));

  // The version is live now: failing to keep it locally only costs the next
  // publish a fetch from the bucket, so it is a warning, not a failed publish.
  Status kept = KeepCopy(o, store, m, index, hashed);
  if (!kept.ok()) {
    if (!report.note.empty()) report.note += "; ";
    report.note += "published, but the state store did not keep it: " + kept.message();
  }
  DS_RETURN_IF_ERROR(RemoveAll(staging));
  return report;
}

Result<LatestStatement> RefreshLatest(const PublishOptions& o) {
  DS_RETURN_IF_ERROR(CheckModelName(o.model));
  DS_ASSIGN_OR_RETURN(SigningKey key, SigningKey::Load(o.key));
  DS_ASSIGN_OR_RETURN(std::vector<TrustedKey> trusted, LoadTrustedKeys({o.key + ".pub"}));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> bucket, OpenBucket(o.bucket, /*create=*/false, o.tls));
  // The state store's lock first: the bucket lock of a dead publisher of this
  // store is taken over only while it is held.
  DS_ASSIGN_OR_RETURN(LocalStore store, LocalStore::Open(o.state));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<PublisherLock> lock, PublisherLock::Acquire(*bucket, o.model, o.state));
  std::string note;
  DS_ASSIGN_OR_RETURN(uint64_t latest, PublishedLatest(*bucket, o.model, trusted, &note));
  // A rewound refs/latest is put back to the version this publisher last
  // published, if the bucket still holds that very version.
  if (store.current() > latest) {
    DS_ASSIGN_OR_RETURN(Manifest held, store.LoadManifest(store.current()));
    auto published = FetchManifest(*bucket, o.model, store.current(), trusted);
    if (!published.ok() || CanonicalBytes(*published) != CanonicalBytes(held))
      return Mismatch(bucket->Describe(LatestKey(o.model)) + " names version " + std::to_string(latest) +
                      ", older than version " + std::to_string(store.current()) + " in the state store " + o.state +
                      ", and the bucket does not hold that version as published: refusing to re-sign");
    latest = store.current();
  }
  if (latest == 0) return NotFound(bucket->Describe(LatestKey(o.model)) + ": nothing published to re-sign");
  std::vector<std::byte> manifest_bytes;
  DS_RETURN_IF_ERROR(FetchManifest(*bucket, o.model, latest, trusted, &manifest_bytes).status());
  DS_RETURN_IF_ERROR(GoLive(o, *bucket, key, latest, manifest_bytes));
  DS_ASSIGN_OR_RETURN(SignedLatest written, ReadSignedLatest(*bucket, o.model, trusted));
  return written.statement;
}

}  // namespace deltaswarm
