#include "codec/checkpoint_files.h"

#include <array>
#include <map>

namespace deltaswarm {

Result<std::vector<File>> OpenCheckpointFiles(const Checkpoint& checkpoint) {
  std::vector<File> files;
  files.reserve(checkpoint.files.size());
  for (const auto& f : checkpoint.files) {
    DS_ASSIGN_OR_RETURN(File file, File::OpenRead(f.abs_path));
    files.push_back(std::move(file));
  }
  return files;
}

Result<std::vector<File>> OpenBaseFiles(const std::string& base_path, const DeltaIndex& index) {
  std::vector<File> files;
  if (index.is_keyframe()) return files;
  if (base_path.empty()) return InvalidArgument("this delta needs a BASE checkpoint (it is not a keyframe)");
  if (!PathExists(base_path)) return NotFound(base_path + ": no such file or directory");
  bool base_is_dir = IsDirectory(base_path);
  if (!base_is_dir && index.base_files.size() != 1)
    return Mismatch(base_path + ": is a file, but the delta's base is a directory of " +
                    std::to_string(index.base_files.size()) + " files");
  for (const auto& b : index.base_files) {
    std::string path = base_is_dir ? base_path + "/" + b.path : base_path;
    auto file = File::OpenRead(path);
    if (!file.ok()) {
      if (file.status().code() == Code::kNotFound)
        return Mismatch(path + ": missing from the base (the delta needs it)");
      return file.status();
    }
    DS_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    if (size != b.size)
      return Mismatch(path + ": base file has " + std::to_string(size) + " bytes, the delta expects " +
                      std::to_string(b.size) + " (wrong base?)");
    files.push_back(std::move(file).value());
  }
  return files;
}

Result<std::span<const std::byte>> ReadRange(const File& file, uint64_t offset, uint64_t len, int slot) {
  thread_local std::array<std::vector<std::byte>, 3> buffers;
  auto& buf = buffers.at(static_cast<size_t>(slot));
  if (buf.size() < len) buf.resize(len);
  std::span<std::byte> out(buf.data(), len);
  DS_RETURN_IF_ERROR(file.ReadAt(offset, out));
  return std::span<const std::byte>(out);
}

}  // namespace deltaswarm
