// Opening a checkpoint: list its files, parse the safetensors headers, and
// check a sharded model's index against the shards actually present.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "deltaswarm/checkpoint.h"

namespace deltaswarm {

namespace {

namespace fs = std::filesystem;

constexpr char kIndexName[] = "model.safetensors.index.json";
constexpr uint64_t kMaxIndexBytes = 100ull * 1000 * 1000;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Accepts regular files and symlinks to them; anything else would make the
// checkpoint's bytes ill-defined (a FIFO has no size, a device is not ours).
Result<uint64_t> RegularFileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    struct stat lst;
    if (err == ENOENT && ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))
      return NotFound(path + ": dangling symbolic link");
    return ErrnoStatus(path, err);
  }
  if (S_ISDIR(st.st_mode)) return Unsupported(path + ": symbolic link to a directory is not supported");
  if (!S_ISREG(st.st_mode)) return Unsupported(path + ": not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

Result<CheckpointFile> OpenFile(const std::string& disk_path, std::string rel_path) {
  CheckpointFile f;
  f.rel_path = std::move(rel_path);
  std::error_code ec;  // the throwing overload would let an exception escape
  fs::path abs = fs::absolute(disk_path, ec);
  f.abs_path = ec ? disk_path : abs.lexically_normal().string();
  DS_ASSIGN_OR_RETURN(f.size, RegularFileSize(disk_path));
  f.is_safetensors = EndsWith(f.rel_path, ".safetensors");
  if (f.is_safetensors) {
    DS_ASSIGN_OR_RETURN(f.header, ReadSafetensorsHeader(disk_path));
    // The header was checked against the size ReadSafetensorsHeader saw; a
    // different size now means the file is changing under us.
    uint64_t last_end = f.header.header_bytes;
    for (const TensorInfo& t : f.header.tensors) last_end = std::max(last_end, t.end);
    if (last_end != f.size) return Corruption(disk_path + ": file changed size while being opened");
  }
  return f;
}

// Recursively lists regular files under root (hidden ones too); directory
// symlinks are not followed, so a link cycle cannot loop.
Status ListDirectory(const std::string& root, std::vector<CheckpointFile>* files) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) return IoError(root + ": cannot list: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return IoError(root + ": cannot list: " + ec.message());
    const fs::directory_entry& entry = *it;
    std::error_code type_ec;
    // A real directory (not a symlink to one) is descended into by the iterator.
    if (entry.is_directory(type_ec) && !entry.is_symlink(type_ec)) continue;
    std::string rel = entry.path().lexically_relative(root).generic_string();
    DS_ASSIGN_OR_RETURN(CheckpointFile f, OpenFile(entry.path().string(), rel));
    files->push_back(std::move(f));
  }
  if (ec) return IoError(root + ": cannot list: " + ec.message());
  return Status::Ok();
}

// model.safetensors.index.json: {"weight_map": {tensor: shard}}; every shard
// must be here and hold the tensors the index assigns to it.
Status CheckIndex(const std::string& index_path, const std::vector<CheckpointFile>& files) {
  DS_ASSIGN_OR_RETURN(auto bytes, ReadWholeFile(index_path, kMaxIndexBytes));
  nlohmann::json index;
  try {
    const char* p = reinterpret_cast<const char*>(bytes.data());
    index = nlohmann::json::parse(p, p + bytes.size());
  } catch (const nlohmann::json::exception& e) {
    return Corruption(index_path + ": not valid JSON: " + e.what());
  }
  if (!index.is_object()) return Corruption(index_path + ": not a JSON object");
  auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object())
    return Corruption(index_path + ": missing or non-object weight_map");

  std::map<std::string, const CheckpointFile*> by_rel;
  for (const CheckpointFile& f : files) by_rel[f.rel_path] = &f;
  for (auto it = map->begin(); it != map->end(); ++it) {
    if (!it.value().is_string())
      return Corruption(index_path + ": weight_map entry for tensor '" + it.key() + "' is not a string");
    const std::string shard = fs::path(it.value().get<std::string>()).lexically_normal().generic_string();
    auto found = by_rel.find(shard);
    if (found == by_rel.end()) return NotFound(index_path + ": shard '" + shard + "' is missing");
    const CheckpointFile& f = *found->second;
    bool has = f.is_safetensors &&
               std::any_of(f.header.tensors.begin(), f.header.tensors.end(),
                           [&](const TensorInfo& t) { return t.name == it.key(); });
    if (!has)
      return Corruption(index_path + ": tensor '" + it.key() + "' is not in shard '" + shard + "'");
  }
  return Status::Ok();
}

}  // namespace

uint64_t Checkpoint::total_bytes() const {
  uint64_t total = 0;
  for (const CheckpointFile& f : files) total += f.size;
  return total;
}

Result<Checkpoint> OpenCheckpoint(const std::string& path) {
  Checkpoint ckpt;
  ckpt.root = path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file or directory");
    return ErrnoStatus(path, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    std::string base = fs::path(path).filename().string();
    DS_ASSIGN_OR_RETURN(CheckpointFile f, OpenFile(path, base));
    ckpt.files.push_back(std::move(f));
    return ckpt;
  }

  ckpt.is_directory = true;
  DS_RETURN_IF_ERROR(ListDirectory(path, &ckpt.files));
  if (ckpt.files.empty()) return NotFound(path + ": no files");
  std::sort(ckpt.files.begin(), ckpt.files.end(),
            [](const CheckpointFile& a, const CheckpointFile& b) { return a.rel_path < b.rel_path; });
  bool has_index = std::any_of(ckpt.files.begin(), ckpt.files.end(),
                               [](const CheckpointFile& f) { return f.rel_path == kIndexName; });
  if (has_index) DS_RETURN_IF_ERROR(CheckIndex((fs::path(path) / kIndexName).string(), ckpt.files));
  return ckpt;
}

}  // namespace deltaswarm
