// Frames: the independent unit of delta coding. A frame turns one raw range of
// a target file into bytes, given the base range it was made against (or none).
// Self-describing: a fixed header (docs/FORMAT.md) followed by the payload.
// All functions are thread-safe and pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "deltaswarm/digest.h"
#include "deltaswarm/dtype.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

// Version 2 added kClassSparse and kClassDense; version 1 frames (no such
// modes) still decode.
constexpr uint8_t kFrameVersion = 2;
constexpr size_t kFrameHeaderSize = 80;

// Stored in the frame header and the index; never renumber.
enum class FrameMode : uint8_t {
  kUnchanged = 0,  // target == base; no payload
  kSparse = 1,     // changed positions + ordinal differences, range-coded
  kDense = 2,      // ordinal differences of every element, byte planes, zstd
  kFull = 3,       // the target alone (keyframes, new tensors): byte planes, zstd
  kPatch = 4,      // zstd with the base range as prefix (sizes differ; small files)
  kClassSparse = 5,  // as kSparse, positions and differences coded per base exponent (version 2)
  kClassDense = 6,   // differences of every element, range-coded per base exponent (version 2)
};
constexpr uint8_t kMaxFrameMode = static_cast<uint8_t>(FrameMode::kClassDense);
const char* FrameModeName(FrameMode m);

struct FrameHeader {
  uint8_t version = kFrameVersion;
  FrameMode mode = FrameMode::kFull;
  DType dtype = DType::kRaw;
  uint64_t raw_len = 0;      // target bytes produced
  uint64_t base_len = 0;     // base bytes consumed (0 for kFull)
  uint64_t payload_len = 0;  // bytes after the header
  uint64_t changed = 0;      // elements that differ from the base (all, for kFull)
  Hash128 base_hash;         // XXH3-128 of the base range (zero for kFull)
  Hash128 target_hash;       // XXH3-128 of the target range
};

struct EncodedFrame {
  FrameHeader header;
  std::vector<std::byte> bytes;  // header + payload, as stored in a chunk
};

struct FrameEncodeOptions {
  int zstd_level = 3;
};

// Encodes target against base. The mode follows from the inputs:
//  base empty                      -> kFull
//  base.size() == target.size()    -> kUnchanged, kSparse or kDense, whichever is smallest
//  otherwise                       -> kPatch (callers keep such ranges small)
// target.size() must be a multiple of the dtype width for delta modes.
Result<EncodedFrame> EncodeFrame(DType dtype, std::span<const std::byte> base,
                                 std::span<const std::byte> target, const FrameEncodeOptions& opts);

// Parses and validates a stored frame's header (magic, version, mode, dtype,
// payload_len == stored.size() - kFrameHeaderSize).
Result<FrameHeader> ParseFrameHeader(std::span<const std::byte> stored);

// Decodes a stored frame into out (out.size() must equal raw_len) using base
// (base.size() must equal base_len). Verifies the base hash before decoding
// (kMismatch on a wrong base) and the target hash after (kCorruption).
// Never reads or writes out of bounds, whatever the input bytes.
Status DecodeFrame(std::span<const std::byte> stored, std::span<const std::byte> base,
                   std::span<std::byte> out);

}  // namespace deltaswarm
