// deltaswarm publish: diff against the previous published version (kept in a
// local store), upload chunks, then the signed manifest, then refs/latest.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>
#include <optional>

#include "core/file.h"
#include "deltaswarm/bucket.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/swarm.h"
#include "roles/artifact_transfer.h"
#include "roles/bucket_layout.h"
#include "roles/checkpoint_sha.h"
#include "roles/local_store.h"

namespace deltaswarm {

namespace {

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Makes sure the state store holds version `latest` intact; fetches it from
// the bucket (as a node would) when it does not. The store is closed while
// the pull runs, since a pull opens (and locks) the store itself.
Result<Manifest> EnsurePrevious(const PublishOptions& o, std::optional<LocalStore>& store, uint64_t latest,
                                const ProgressFn& progress) {
  if (store->current() == latest) {
    DS_ASSIGN_OR_RETURN(Manifest m, store->LoadManifest(latest));
    Status s = store->CheckVersion(m, o.diff.threads);
    if (s.ok()) return m;
    DS_RETURN_IF_ERROR(store->Remove(latest));
  }
  store.reset();
  PullOptions pull;
  pull.bucket = o.bucket;
  pull.model = o.model;
  pull.dest = o.state;
  pull.trust = {o.key + ".pub"};
  pull.version = latest;
  pull.keep = o.keep;
  pull.threads = o.diff.threads;
  pull.tls = o.tls;
  Status pulled = Pull(pull, progress).status();
  DS_ASSIGN_OR_RETURN(LocalStore reopened, LocalStore::Open(o.state));
  store.emplace(std::move(reopened));
  DS_RETURN_IF_ERROR(pulled);
  return store->LoadManifest(latest);
}

// Keeps the published checkpoint in the state store as version m.version:
// hard links where possible (a copy of 4 TB would dominate publish). If the
// trainer later rewrites those files in place, the next publish notices
// (CheckVersion) and fetches the version from the bucket instead.
Status KeepCopy(const PublishOptions& o, LocalStore& store, const Manifest& m, const std::string& index_path) {
  std::string dst = store.CheckpointPath(m);
  DS_RETURN_IF_ERROR(RemoveAll(store.VersionDir(m.version)));
  DS_RETURN_IF_ERROR(CopyTreeDurably(o.checkpoint, dst, /*hard_link=*/true));
  DS_RETURN_IF_ERROR(store.SaveIndex(m.version, index_path));
  DS_RETURN_IF_ERROR(store.SaveManifest(m));
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
  if (!PathExists(o.checkpoint)) return NotFound(o.checkpoint + ": no such file or directory");
  DS_ASSIGN_OR_RETURN(SigningKey key, SigningKey::Load(o.key));
  DS_ASSIGN_OR_RETURN(const TorrentAccess access, TorrentAccessFor(o));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> bucket, OpenBucket(o.bucket, /*create=*/true, o.tls));
  DS_ASSIGN_OR_RETURN(uint64_t latest, ReadLatest(*bucket, o.model));
  std::optional<LocalStore> store;
  {
    DS_ASSIGN_OR_RETURN(LocalStore opened, LocalStore::Open(o.state));
    store.emplace(std::move(opened));
  }
  const uint64_t id = latest + 1;

  std::string previous;
  if (latest > 0) {
    DS_ASSIGN_OR_RETURN(Manifest prev, EnsurePrevious(o, store, latest, progress));
    previous = store->CheckpointPath(prev);
    if (prev.target_is_directory != IsDirectory(o.checkpoint))
      return InvalidArgument(o.checkpoint + ": version " + std::to_string(latest) + " was published as a " +
                             (prev.target_is_directory ? "directory" : "single file"));
  }

  // SHA-256 of the new files runs beside the diff: both read the same pages.
  auto hashing = std::async(std::launch::async, [&] { return HashCheckpointFiles(o.checkpoint, 1); });

  Manifest m;
  m.model = o.model;
  m.version = id;
  m.parent = latest;
  m.target_is_directory = IsDirectory(o.checkpoint);
  m.frame_bytes = o.diff.frame_bytes;
  m.chunk_bytes = o.diff.chunk_bytes;
  m.zstd_level = o.diff.zstd_level;
  m.created = UtcNow();
  std::string staging = store->StagingDir(id);
  DiffOptions diff = o.diff;
  diff.force = true;  // leftovers of a publish killed earlier
  PublishReport report;
  report.version = id;
  if (latest > 0) {
    DS_RETURN_IF_ERROR(Diff(previous, o.checkpoint, staging + "/delta", diff, progress).status());
    DS_ASSIGN_OR_RETURN(ManifestArtifact a, DescribeArtifact(staging + "/delta", "delta", latest));
    report.delta_bytes = a.bytes();
    m.artifacts.push_back(std::move(a));
  }
  if ((id - 1) % o.keyframe_every == 0) {
    DS_RETURN_IF_ERROR(Diff("", o.checkpoint, staging + "/keyframe", diff, progress).status());
    DS_ASSIGN_OR_RETURN(ManifestArtifact a, DescribeArtifact(staging + "/keyframe", "keyframe", 0));
    report.keyframe_bytes = a.bytes();
    m.artifacts.push_back(std::move(a));
  }
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
  DS_ASSIGN_OR_RETURN(m.files, hashing.get());
  for (const auto& f : m.files) report.target_bytes += f.size;
  DS_RETURN_IF_ERROR(SignManifest(m, key));

  // Chunks and indexes, then the manifest, then refs/latest: a reader that
  // sees a version sees all of it.
  for (size_t i = 0; i < m.artifacts.size(); ++i) {
    const ManifestArtifact& a = m.artifacts[i];
    DS_ASSIGN_OR_RETURN(uint64_t sent, UploadArtifact(*bucket, o.model, id, a, staging + "/" + a.dir, progress));
    DS_RETURN_IF_ERROR(bucket->Put(TorrentKey(o.model, id, a.dir), torrents[i].bytes));
    report.uploaded_bytes += sent + torrents[i].bytes.size();
  }
  std::string manifest_text = SerializeManifest(m);
  DS_RETURN_IF_ERROR(bucket->Put(ManifestKey(o.model, id), std::as_bytes(std::span(manifest_text))));
  // The state store keeps the index (below) from the staging directory, or from where the chunks went.
  std::string index = staging + "/" + m.artifacts.front().dir + "/" + kIndexFileName;
  if (o.keep_chunks) {
    // publish --seed serves these: same filesystem, so a rename, not a copy.
    // Failing only costs the seed a download from the bucket.
    std::string chunks = store->ChunksDir(id);
    Status moved = RemoveAll(chunks);
    if (moved.ok() && ::rename(staging.c_str(), chunks.c_str()) != 0) moved = ErrnoStatus(chunks, errno);
    if (moved.ok()) index = chunks + "/" + m.artifacts.front().dir + "/" + kIndexFileName;
    else report.note = "chunks not kept: " + moved.message();
  }
  if (o.before_live) DS_RETURN_IF_ERROR(o.before_live(id));
  DS_RETURN_IF_ERROR(WriteLatest(*bucket, o.model, id));

  // The version is live now: failing to keep it locally only costs the next
  // publish a fetch from the bucket, so it is a warning, not a failed publish.
  Status kept = KeepCopy(o, *store, m, index);
  if (!kept.ok()) {
    if (!report.note.empty()) report.note += "; ";
    report.note += "published, but the state store did not keep it: " + kept.message();
  }
  DS_RETURN_IF_ERROR(RemoveAll(staging));
  return report;
}

}  // namespace deltaswarm
