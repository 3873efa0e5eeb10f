#include "roles/checkpoint_sha.h"

#include <algorithm>
#include <filesystem>

#include "codec/checkpoint_files.h"
#include "core/file.h"
#include "core/parallel.h"

namespace deltaswarm {

namespace fs = std::filesystem;

namespace {
constexpr uint64_t kBlock = 4ull << 20;
}  // namespace

Result<Sha256> Sha256OfFile(const std::string& path, uint64_t* size, FileIdentity* identity) {
  DS_ASSIGN_OR_RETURN(File f, File::OpenRead(path));
  DS_ASSIGN_OR_RETURN(*size, f.Size());
  Result<FileIdentity> before = FileIdentity{};
  if (identity) before = IdentifyDescriptor(f.fd(), path);
  Sha256Hasher hasher;
  for (uint64_t pos = 0; pos < *size; pos += kBlock) {
    DS_ASSIGN_OR_RETURN(auto block, ReadRange(f, pos, std::min(kBlock, *size - pos), 2));
    hasher.Update(block);
  }
  if (identity) {
    Result<FileIdentity> after = IdentifyDescriptor(f.fd(), path);
    bool kept = before.ok() && after.ok() && *before == *after && before->size == *size;
    *identity = kept ? *after : FileIdentity{};
  }
  return hasher.Finish();
}

namespace {
// Hashes files[i] at paths[i] on a pool; one file per task.
Status HashAll(const std::vector<std::string>& paths, std::vector<ManifestFile>& files, unsigned threads,
               std::vector<FileIdentity>* identities = nullptr) {
  if (identities) identities->assign(paths.size(), FileIdentity{});
  return RunParallel(paths.size(), ResolveThreads(threads), [&](size_t i) -> Status {
    DS_ASSIGN_OR_RETURN(files[i].sha256,
                        Sha256OfFile(paths[i], &files[i].size, identities ? &(*identities)[i] : nullptr));
    return Status::Ok();
  });
}
}  // namespace

Result<std::vector<ManifestFile>> HashCheckpointFiles(const std::string& path, unsigned threads,
                                                      std::vector<FileIdentity>* identities) {
  std::vector<ManifestFile> files;
  std::vector<std::string> paths;
  if (!PathExists(path)) return NotFound(path + ": no such file or directory");
  if (IsDirectory(path)) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file()) paths.push_back(it->path().string());
    if (ec) return IoError(path + ": " + ec.message());
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) files.push_back({fs::relative(p, path).string(), 0, {}});
  } else {
    paths.push_back(path);
    files.push_back({fs::path(path).filename().string(), 0, {}});
  }
  DS_RETURN_IF_ERROR(HashAll(paths, files, threads, identities));
  return files;
}

Status CheckCheckpointFiles(const std::string& path, bool is_directory, const std::vector<ManifestFile>& files,
                            unsigned threads) {
  if (is_directory != IsDirectory(path)) return Mismatch(path + ": not the kind of checkpoint the manifest describes");
  if (is_directory) {
    DS_ASSIGN_OR_RETURN(auto actual, HashCheckpointFiles(path, threads));
    if (actual.size() != files.size()) return Mismatch(path + ": holds a different set of files than its manifest");
    for (size_t i = 0; i < files.size(); ++i)
      if (actual[i].path != files[i].path || actual[i].size != files[i].size || actual[i].sha256 != files[i].sha256)
        return Mismatch(path + "/" + files[i].path + ": does not match its manifest (sha256)");
    return Status::Ok();
  }
  if (files.size() != 1) return Mismatch(path + ": the manifest describes " + std::to_string(files.size()) + " files");
  std::vector<ManifestFile> actual = {{files[0].path, 0, {}}};
  DS_RETURN_IF_ERROR(HashAll({path}, actual, threads));
  if (actual[0].size != files[0].size || actual[0].sha256 != files[0].sha256)
    return Mismatch(path + ": does not match its manifest (sha256)");
  return Status::Ok();
}

}  // namespace deltaswarm
