// Packs encoded frames, in order, into numbered chunk files of about a target
// size, hashing each with SHA-256 as it is written. Not thread-safe: one
// writer, fed in frame order, so chunk contents do not depend on threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/file.h"
#include "deltaswarm/delta_index.h"

namespace deltaswarm {

class ChunkWriter {
 public:
  ChunkWriter(std::string dir, uint64_t target_bytes) : dir_(std::move(dir)), target_bytes_(target_bytes) {}

  // Appends one stored frame; sets *chunk and *offset to where it landed.
  // A frame never spans chunks; a new chunk starts when this one would pass
  // the target size.
  Status Append(std::span<const std::byte> frame, uint32_t* chunk, uint64_t* offset);
  // Closes (fsyncs) the last chunk and returns every chunk's entry.
  Result<std::vector<DeltaChunk>> Finish();

  static std::string ChunkName(uint32_t number);

 private:
  Status CloseCurrent();

  std::string dir_;
  uint64_t target_bytes_;
  File current_;
  Sha256Hasher hasher_;
  uint64_t current_size_ = 0;
  std::vector<DeltaChunk> chunks_;
};

}  // namespace deltaswarm
