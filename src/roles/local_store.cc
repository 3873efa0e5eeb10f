#include "roles/local_store.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/file.h"
#include "deltaswarm/delta.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/utc_time.h"
#include "roles/checkpoint_sha.h"

namespace deltaswarm {

namespace fs = std::filesystem;

namespace {
// A 4 TB checkpoint's index (a million 4 MiB frames) is about 50 MB.
constexpr uint64_t kMaxIndexBytes = 256ull << 20;

bool ParseId(const std::string& s, uint64_t* id) {
  if (s.empty() || s.size() > 19 || !std::all_of(s.begin(), s.end(), ::isdigit)) return false;
  *id = std::stoull(s);
  return *id > 0;
}
}  // namespace

LocalStore::~LocalStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

LocalStore::LocalStore(LocalStore&& other) noexcept : dir_(std::move(other.dir_)), lock_fd_(other.lock_fd_) {
  other.lock_fd_ = -1;
}

Result<LocalStore> LocalStore::Open(const std::string& dir) {
  for (const char* sub : {"versions", "manifests", "staging", "chunks"})
    DS_RETURN_IF_ERROR(MakeDirectories(dir + "/" + sub));
  // The cleanup below removes other runs' temporaries: only one run at a time.
  DS_ASSIGN_OR_RETURN(int fd, LockExclusively(dir + "/lock", dir));
  LocalStore store(fs::absolute(dir).lexically_normal().string(), fd);
  std::error_code ec;
  // A killed apply leaves "<name>.tmp-<pid>-<n>" beside its output.
  for (const char* sub : {"versions", "manifests", ""}) {
    for (auto& e : fs::directory_iterator(fs::path(store.dir_) / sub, ec))
      if (e.path().filename().string().find(".tmp-") != std::string::npos)
        DS_RETURN_IF_ERROR(RemoveAll(e.path().string()));
  }
  // Versions without a manifest never completed (nor does a stamp without one count).
  for (auto& e : fs::directory_iterator(fs::path(store.dir_) / "versions", ec)) {
    uint64_t id;
    if (ParseId(e.path().filename().string(), &id) && !PathExists(store.ManifestPath(id)))
      DS_RETURN_IF_ERROR(RemoveAll(e.path().string()));
  }
  for (auto& e : fs::directory_iterator(fs::path(store.dir_) / "manifests", ec)) {
    std::string name = e.path().filename().string();
    uint64_t id;
    if (name.ends_with(".stamp") && ParseId(name.substr(0, name.size() - 6), &id) && !PathExists(store.ManifestPath(id)))
      DS_RETURN_IF_ERROR(RemoveAll(e.path().string()));
  }
  return store;
}

uint64_t LocalStore::current() const {
  std::error_code ec;
  fs::path target = fs::read_symlink(fs::path(dir_) / "current", ec);
  uint64_t id = 0;
  if (ec || target.parent_path() != "versions" || !ParseId(target.filename().string(), &id)) return 0;
  if (!PathExists(dir_ + "/manifests/" + std::to_string(id) + ".json")) return 0;
  return id;
}

std::vector<uint64_t> LocalStore::Versions() const {
  std::vector<uint64_t> ids;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(fs::path(dir_) / "manifests", ec)) {
    std::string name = e.path().filename().string();
    uint64_t id;
    if (name.size() > 5 && name.ends_with(".json") && ParseId(name.substr(0, name.size() - 5), &id))
      ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string LocalStore::VersionDir(uint64_t id) const { return dir_ + "/versions/" + std::to_string(id); }
std::string LocalStore::StagingDir(uint64_t id) const { return dir_ + "/staging/" + std::to_string(id); }
std::string LocalStore::ChunksDir(uint64_t id) const { return dir_ + "/chunks/" + std::to_string(id); }

std::vector<uint64_t> LocalStore::ChunkVersions() const {
  std::vector<uint64_t> ids;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(fs::path(dir_) / "chunks", ec)) {
    uint64_t id;
    if (e.is_directory(ec) && ParseId(e.path().filename().string(), &id)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string LocalStore::CheckpointPath(const Manifest& m) const {
  if (m.target_is_directory || m.files.empty()) return VersionDir(m.version);
  return VersionDir(m.version) + "/" + m.files[0].path;
}

Result<Manifest> LocalStore::LoadManifest(uint64_t id) const {
  std::string path = dir_ + "/manifests/" + std::to_string(id) + ".json";
  DS_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(path, kMaxManifestBytes));
  return ParseManifest(bytes, path);
}

Status LocalStore::SaveManifest(const Manifest& m) {
  std::string text = SerializeManifest(m);
  return WriteFileDurably(dir_ + "/manifests/" + std::to_string(m.version) + ".json",
                          std::as_bytes(std::span(text.data(), text.size())));
}

Status LocalStore::SaveIndex(uint64_t id, const std::string& index_path) {
  DS_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(index_path, kMaxIndexBytes));
  return WriteFileDurably(dir_ + "/manifests/" + std::to_string(id) + ".dsi", bytes);
}

std::string LocalStore::ManifestPath(uint64_t id) const { return dir_ + "/manifests/" + std::to_string(id) + ".json"; }
std::string LocalStore::StampPath(uint64_t id) const { return dir_ + "/manifests/" + std::to_string(id) + ".stamp"; }

Result<uint64_t> LocalStore::ReadAndCheck(const Manifest& m, unsigned threads, const ProgressFn& progress) const {
  std::string path = CheckpointPath(m);
  uint64_t bytes = 0;
  for (const auto& f : m.files) bytes += f.size;
  std::string index_path = dir_ + "/manifests/" + std::to_string(m.version) + ".dsi";
  if (!PathExists(index_path)) {
    DS_RETURN_IF_ERROR(CheckCheckpointFiles(path, m.target_is_directory, m.files, threads));
    return bytes;
  }
  DS_ASSIGN_OR_RETURN(auto index_bytes, ReadWholeFile(index_path, kMaxIndexBytes));
  Sha256 sha = Sha256Of(index_bytes);
  bool signed_index = false;
  for (const auto& a : m.artifacts) signed_index |= a.index_sha256 == sha;
  if (!signed_index) return Mismatch(index_path + ": not an index the manifest of version " +
                                     std::to_string(m.version) + " lists");
  DS_ASSIGN_OR_RETURN(DeltaIndex index, ParseIndex(index_bytes, index_path));
  DS_RETURN_IF_ERROR(VerifyAgainst(path, index, threads, progress).status());
  return bytes;
}

Result<VersionCheck> LocalStore::CheckVersion(const Manifest& m, unsigned threads, CheckDepth depth,
                                              const ProgressFn& progress) {
  const std::string path = CheckpointPath(m);
  DS_ASSIGN_OR_RETURN(auto manifest_bytes, ReadWholeFile(ManifestPath(m.version), kMaxManifestBytes));
  const Sha256 manifest_sha = Sha256Of(manifest_bytes);
  if (depth == CheckDepth::kTrustStamp) {
    auto stamp_bytes = ReadWholeFile(StampPath(m.version), 1ull << 20);
    if (stamp_bytes.ok()) {
      auto stamp = ParseStamp(*stamp_bytes, StampPath(m.version));
      if (stamp.ok() && MatchStamp(*stamp, m, manifest_sha, path).ok()) return VersionCheck{true, 0};
    }
  }
  // The identities around the read: a file written meanwhile gets no stamp.
  auto before = IdentifyVersion(m, path);
  Result<uint64_t> read = ReadAndCheck(m, threads, progress);
  if (!read.ok()) {
    (void)ForgetStamp(m.version);  // even in a View: it only makes the next check a full one
    return read.status();
  }
  auto after = IdentifyVersion(m, path);
  if (lock_fd_ >= 0 && before.ok() && after.ok() && before->files == after->files) {
    after->manifest_sha256 = manifest_sha;
    DS_RETURN_IF_ERROR(WriteStamp(m, std::move(after).value()));
  }
  return VersionCheck{false, *read};
}

Status LocalStore::WriteStamp(const Manifest& m, VersionStamp stamp) {
  stamp.checked = FormatUtc(UnixNow());
  std::string text = SerializeStamp(stamp);
  return WriteFileDurably(StampPath(m.version), std::as_bytes(std::span(text.data(), text.size())));
}

Status LocalStore::SaveStamp(const Manifest& m) {
  DS_ASSIGN_OR_RETURN(auto manifest_bytes, ReadWholeFile(ManifestPath(m.version), kMaxManifestBytes));
  DS_ASSIGN_OR_RETURN(VersionStamp stamp, IdentifyVersion(m, CheckpointPath(m)));
  stamp.manifest_sha256 = Sha256Of(manifest_bytes);
  return WriteStamp(m, std::move(stamp));
}

Status LocalStore::SaveStampIf(const Manifest& m, const std::vector<FileIdentity>& checked) {
  DS_ASSIGN_OR_RETURN(VersionStamp now, IdentifyVersion(m, CheckpointPath(m)));
  if (now.files.size() != checked.size()) return Status::Ok();
  for (size_t i = 0; i < checked.size(); ++i)
    if (now.files[i].identity != checked[i]) return Status::Ok();
  return SaveStamp(m);
}

Status LocalStore::ForgetStamp(uint64_t id) { return RemoveAll(StampPath(id)); }

Status LocalStore::SwitchCurrent(uint64_t id) {
  std::string link = dir_ + "/current";
  std::string tmp = TempSibling(link);
  std::string target = "versions/" + std::to_string(id);
  DS_RETURN_IF_ERROR(Symlink(target, tmp));
  Status renamed = Rename(tmp, link);
  if (!renamed.ok()) {
    (void)Unlink(tmp);
    return renamed;
  }
  return SyncDirectory(dir_);
}

Status LocalStore::RemoveFiles(uint64_t id) {
  // The manifest first: from then on the version no longer counts as held.
  DS_RETURN_IF_ERROR(RemoveAll(dir_ + "/manifests/" + std::to_string(id) + ".json"));
  DS_RETURN_IF_ERROR(RemoveAll(dir_ + "/manifests/" + std::to_string(id) + ".dsi"));
  DS_RETURN_IF_ERROR(ForgetStamp(id));
  return RemoveAll(VersionDir(id));
}

Status LocalStore::Remove(uint64_t id) {
  DS_RETURN_IF_ERROR(RemoveFiles(id));
  return RemoveAll(ChunksDir(id));
}

std::vector<uint64_t> LocalStore::Survivors(uint64_t keep) const {
  std::vector<uint64_t> ids = Versions();
  uint64_t cur = current();
  size_t excess = ids.size() > keep ? ids.size() - keep : 0;
  std::vector<uint64_t> kept;
  for (size_t i = 0; i < ids.size(); ++i)
    if (i >= excess || ids[i] == cur) kept.push_back(ids[i]);
  return kept;
}

Status LocalStore::Prune(uint64_t keep) {
  std::vector<uint64_t> kept = Survivors(keep);
  for (uint64_t id : Versions())
    if (!std::binary_search(kept.begin(), kept.end(), id)) DS_RETURN_IF_ERROR(Remove(id));
  return Status::Ok();
}

Status LocalStore::PruneChunks(const std::vector<uint64_t>& seeded) {
  std::vector<uint64_t> held = Versions();
  uint64_t newest = held.empty() ? 0 : held.back();
  for (uint64_t id : ChunkVersions())
    if (id <= newest && std::find(seeded.begin(), seeded.end(), id) == seeded.end())
      DS_RETURN_IF_ERROR(RemoveAll(ChunksDir(id)));
  return Status::Ok();
}

}  // namespace deltaswarm

namespace deltaswarm {

Result<StoreStatus> ReadStoreStatus(const std::string& dir) {
  if (!IsDirectory(dir + "/manifests")) return NotFound(dir + ": not a deltaswarm store (no manifests/)");
  LocalStore store = LocalStore::View(dir);
  StoreStatus status;
  status.current = store.current();
  status.versions = store.Versions();
  for (uint64_t id : store.ChunkVersions())
    if (std::binary_search(status.versions.begin(), status.versions.end(), id)) status.seeding.push_back(id);
  if (status.current != 0) {
    DS_ASSIGN_OR_RETURN(Manifest m, store.LoadManifest(status.current));
    status.model = m.model;
    for (const auto& f : m.files) status.current_bytes += f.size;
  }
  return status;
}

}  // namespace deltaswarm
