#include "codec/chunk_writer.h"

#include <cstdio>

namespace deltaswarm {

std::string ChunkWriter::ChunkName(uint32_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "chunk-%06u.dsc", number);
  return buf;
}

Status ChunkWriter::Append(std::span<const std::byte> frame, uint32_t* chunk, uint64_t* offset) {
  if (current_.is_open() && current_size_ > 0 && current_size_ + frame.size() > target_bytes_)
    DS_RETURN_IF_ERROR(CloseCurrent());
  if (!current_.is_open()) {
    std::string name = ChunkName(static_cast<uint32_t>(chunks_.size()));
    DS_ASSIGN_OR_RETURN(current_, File::CreateNew(dir_ + "/" + name));
    hasher_ = Sha256Hasher();
    current_size_ = 0;
    chunks_.push_back({name, 0, {}});
  }
  DS_RETURN_IF_ERROR(current_.WriteAt(current_size_, frame));
  hasher_.Update(frame);
  *chunk = static_cast<uint32_t>(chunks_.size() - 1);
  *offset = current_size_;
  current_size_ += frame.size();
  return Status::Ok();
}

Status ChunkWriter::CloseCurrent() {
  if (!current_.is_open()) return Status::Ok();
  DS_RETURN_IF_ERROR(current_.Sync());
  DS_RETURN_IF_ERROR(current_.Close());
  chunks_.back().size = current_size_;
  chunks_.back().sha256 = hasher_.Finish();
  return Status::Ok();
}

Result<std::vector<DeltaChunk>> ChunkWriter::Finish() {
  DS_RETURN_IF_ERROR(CloseCurrent());
  return std::move(chunks_);
}

}  // namespace deltaswarm
