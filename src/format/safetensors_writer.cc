#include "format/safetensors_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace deltaswarm {

namespace {

Result<uint64_t> DataBytes(const TensorSpec& t) {
  if (t.dtype == DType::kRaw) return InvalidArgument(t.name + ": a tensor needs a dtype");
  unsigned __int128 n = Info(t.dtype).width;
  for (uint64_t s : t.shape) {
    n *= s;
    if (n > (static_cast<unsigned __int128>(1) << 62)) return InvalidArgument(t.name + ": tensor too large");
  }
  return static_cast<uint64_t>(n);
}

}  // namespace

Result<std::string> SafetensorsHeaderBytes(const std::vector<TensorSpec>& tensors,
                                           const std::vector<std::pair<std::string, std::string>>& metadata) {
  // ordered_json keeps keys in insertion order, so the header lists tensors
  // in file order like the reference writer.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") return InvalidArgument("bad tensor name '" + t.name + "'");
    if (header.contains(t.name)) return InvalidArgument(t.name + ": duplicate tensor name");
    DS_ASSIGN_OR_RETURN(uint64_t bytes, DataBytes(t));
    header[t.name] = {{"dtype", Info(t.dtype).name}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  while (json.size() % 8) json.push_back(' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(static_cast<uint64_t>(json.size()) >> (8 * i));
  return out + json;
}

Result<std::unique_ptr<SafetensorsWriter>> SafetensorsWriter::Create(
    const std::string& path, std::vector<TensorSpec> tensors,
    const std::vector<std::pair<std::string, std::string>>& metadata) {
  DS_ASSIGN_OR_RETURN(std::string header, SafetensorsHeaderBytes(tensors, metadata));
  std::unique_ptr<SafetensorsWriter> w(new SafetensorsWriter());
  w->path_ = path;
  w->header_bytes_ = header.size();
  uint64_t offset = header.size();
  for (const auto& t : tensors) {
    DS_ASSIGN_OR_RETURN(uint64_t bytes, DataBytes(t));
    w->begins_.push_back(offset);
    offset += bytes;
    w->ends_.push_back(offset);
  }
  w->file_size_ = offset;
  w->tensors_ = std::move(tensors);
  w->tmp_path_ = TempSibling(path);
  DS_ASSIGN_OR_RETURN(w->file_, File::CreateNew(w->tmp_path_));
  // From here on the destructor removes the temporary file on failure.
  DS_RETURN_IF_ERROR(w->file_.Truncate(w->file_size_));
  DS_RETURN_IF_ERROR(
      w->file_.WriteAt(0, std::as_bytes(std::span<const char>(header.data(), header.size()))));
  return w;
}

SafetensorsWriter::~SafetensorsWriter() {
  if (!committed_ && !tmp_path_.empty()) {
    (void)file_.Close();
    (void)Unlink(tmp_path_);
  }
}

Status SafetensorsWriter::WriteTensor(size_t i, uint64_t offset, std::span<const std::byte> data) {
  if (i >= tensors_.size()) return InvalidArgument(path_ + ": no tensor " + std::to_string(i));
  if (offset > tensor_bytes(i) || data.size() > tensor_bytes(i) - offset)
    return InvalidArgument(path_ + ": write past the end of " + tensors_[i].name);
  // File::WriteAt is a plain pwrite, so concurrent calls are safe.
  return file_.WriteAt(begins_[i] + offset, data);
}

Status SafetensorsWriter::Commit() {
  if (committed_) return Status::Ok();
  DS_RETURN_IF_ERROR(file_.Sync());
  DS_RETURN_IF_ERROR(file_.Close());
  DS_RETURN_IF_ERROR(Rename(tmp_path_, path_));
  committed_ = true;
  std::string dir = std::filesystem::path(path_).parent_path().string();
  return SyncDirectory(dir.empty() ? "." : dir);
}

}  // namespace deltaswarm
