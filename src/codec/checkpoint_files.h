// Open read handles for every file of a checkpoint, indexed like its files.
// Positional reads make one set of handles shareable by all worker threads.
#pragma once

#include <vector>

#include "core/file.h"
#include "deltaswarm/checkpoint.h"
#include "deltaswarm/delta_index.h"

namespace deltaswarm {

Result<std::vector<File>> OpenCheckpointFiles(const Checkpoint& checkpoint);

// Opens base_path and matches the files a delta needs from it, in the order of
// index.base_files. Checks presence and size (kMismatch on a wrong base).
Result<std::vector<File>> OpenBaseFiles(const std::string& base_path, const DeltaIndex& index);

// Reads [offset, offset+len) of file into a thread-local buffer that stays
// valid until the next call with the same slot on this thread.
Result<std::span<const std::byte>> ReadRange(const File& file, uint64_t offset, uint64_t len, int slot);

}  // namespace deltaswarm
