// The index of a delta directory: which target files it produces, how they are
// cut into segments (safetensors header, tensors, whole files) and frames, and
// which chunk holds each frame. Specified in docs/FORMAT.md ("index.dsi").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "deltaswarm/digest.h"
#include "deltaswarm/dtype.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

constexpr uint32_t kIndexVersion = 1;
constexpr const char* kIndexFileName = "index.dsi";
constexpr uint32_t kNoBase = 0xffffffffu;

struct DeltaTargetFile {
  std::string path;        // relative path ("model.safetensors", "tokenizer/vocab.json")
  uint64_t size = 0;
  Hash128 content_digest;  // HashOfHashes of its frames' target hashes, in file order
};

struct DeltaBaseFile {
  std::string path;  // relative path in the base checkpoint
  uint64_t size = 0;
};

enum class SegmentKind : uint8_t { kHeader = 0, kTensor = 1, kFile = 2 };

// A contiguous range of one target file coded the same way.
struct DeltaSegment {
  uint32_t file = 0;           // index into DeltaIndex::files
  uint64_t offset = 0;         // in the target file
  uint64_t length = 0;
  SegmentKind kind = SegmentKind::kFile;
  std::string name;            // tensor name, or the file path
  DType dtype = DType::kRaw;
  uint32_t base_file = kNoBase;  // index into base_files, or kNoBase (sent whole)
  uint64_t base_offset = 0;
  uint64_t base_length = 0;
  uint64_t first_frame = 0;    // frames [first_frame, first_frame + frame_count)
  uint64_t frame_count = 0;
};

struct DeltaChunk {
  std::string name;  // file name inside the delta directory
  uint64_t size = 0;
  Sha256 sha256;
};

struct DeltaFrame {
  uint32_t segment = 0;
  uint64_t target_offset = 0;  // absolute, in the segment's target file
  uint64_t raw_len = 0;
  uint64_t base_offset = 0;    // absolute, in the segment's base file
  uint64_t base_len = 0;
  uint8_t mode = 0;            // FrameMode code
  uint32_t chunk = 0;
  uint64_t chunk_offset = 0;
  uint64_t stored_len = 0;     // frame header + payload
  uint64_t changed = 0;        // elements that differ from the base
  Hash128 base_hash;
  Hash128 target_hash;
};

struct DeltaIndex {
  uint32_t version = kIndexVersion;
  bool target_is_directory = false;
  uint64_t frame_bytes = 0;   // codec parameters, for the record
  int32_t zstd_level = 0;
  std::vector<DeltaBaseFile> base_files;  // empty for a keyframe
  std::vector<DeltaTargetFile> files;
  std::vector<DeltaSegment> segments;     // sorted by (file, offset); tile every file
  std::vector<DeltaChunk> chunks;
  std::vector<DeltaFrame> frames;         // in segment order; tile every segment

  bool is_keyframe() const { return base_files.empty(); }
  uint64_t target_bytes() const;
  uint64_t delta_bytes() const;  // sum of chunk sizes
};

// Each target file's content digest computed from its frames' target hashes.
std::vector<Hash128> ContentDigests(const DeltaIndex& index);

std::vector<std::byte> SerializeIndex(const DeltaIndex& index);
// Parses and checks every structural invariant listed in docs/FORMAT.md;
// `name` is used in error messages.
Result<DeltaIndex> ParseIndex(std::span<const std::byte> bytes, const std::string& name);
// Reads DIR/index.dsi.
Result<DeltaIndex> ReadDeltaIndex(const std::string& delta_dir);

}  // namespace deltaswarm
