#include "roles/local_store.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/file.h"
#include "deltaswarm/delta.h"
#include "roles/checkpoint_sha.h"
#include "deltaswarm/roles.h"

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
  // Versions without a manifest never completed.
  for (auto& e : fs::directory_iterator(fs::path(store.dir_) / "versions", ec)) {
    uint64_t id;
    if (ParseId(e.path().filename().string(), &id) && !PathExists(store.dir_ + "/manifests/" + std::to_string(id) + ".json"))
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

Status LocalStore::CheckVersion(const Manifest& m, unsigned threads) const {
  std::string path = CheckpointPath(m);
  std::string index_path = dir_ + "/manifests/" + std::to_string(m.version) + ".dsi";
  if (!PathExists(index_path)) return CheckCheckpointFiles(path, m.target_is_directory, m.files, threads);
  DS_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(index_path, kMaxIndexBytes));
  Sha256 sha = Sha256Of(bytes);
  bool signed_index = false;
  for (const auto& a : m.artifacts) signed_index |= a.index_sha256 == sha;
  if (!signed_index) return Mismatch(index_path + ": not an index the manifest of version " +
                                     std::to_string(m.version) + " lists");
  DS_ASSIGN_OR_RETURN(DeltaIndex index, ParseIndex(bytes, index_path));
  return VerifyAgainst(path, index, threads, nullptr).status();
}

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
