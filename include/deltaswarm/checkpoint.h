// A checkpoint as the codec sees it: files, and for safetensors files their
// tensors' byte ranges. Opening validates structure but reads only headers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deltaswarm/dtype.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1000 * 1000;  // 100 MB

struct TensorInfo {
  std::string name;
  DType dtype = DType::kRaw;   // kRaw for dtypes the codec does not know
  std::string dtype_name;      // as written in the header ("BF16", "F8_E8M0", ...)
  std::vector<uint64_t> shape;
  uint64_t begin = 0;          // absolute file offsets: [begin, end)
  uint64_t end = 0;
  uint64_t bytes() const { return end - begin; }
};

// The parsed header of one safetensors file.
struct SafetensorsHeader {
  uint64_t header_bytes = 0;          // 8 + JSON length: where the data area starts
  std::vector<TensorInfo> tensors;    // sorted by begin (then name)
  std::string metadata_json;          // "__metadata__" re-serialised, or empty
};

// Parses and validates the header of a safetensors file of file_size bytes
// given its first bytes (at least 8; the JSON must be complete in `prefix`
// or kCorruption is returned). Checks: JSON length <= 100 MB and inside the
// file, an object of tensors with dtype/shape/data_offsets, sizes matching
// dtype*shape for known dtypes, ranges tiling the data area exactly.
// `name` is used in error messages.
Result<SafetensorsHeader> ParseSafetensorsHeader(const std::string& name, const uint8_t* prefix,
                                                 uint64_t prefix_len, uint64_t file_size);
// Reads just enough of the file to parse its header.
Result<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path);

struct CheckpointFile {
  std::string rel_path;    // path inside the checkpoint ("model.safetensors")
  std::string abs_path;    // where it is on disk
  uint64_t size = 0;
  bool is_safetensors = false;  // name ends in .safetensors
  SafetensorsHeader header;     // valid when is_safetensors
};

struct Checkpoint {
  std::string root;             // the path that was opened
  bool is_directory = false;
  std::vector<CheckpointFile> files;  // sorted by rel_path
  uint64_t total_bytes() const;
};

// Opens a single file or a directory (every regular file below it, recursively;
// files ending in .safetensors are parsed). For a directory holding
// model.safetensors.index.json, every shard it names must be present.
Result<Checkpoint> OpenCheckpoint(const std::string& path);

}  // namespace deltaswarm
