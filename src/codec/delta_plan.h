// Planning a delta: match target files and tensors to the base and cut each
// target file into segments and frames. Pure bookkeeping over headers; no
// tensor data is read here.
#pragma once

#include "deltaswarm/checkpoint.h"
#include "deltaswarm/delta_index.h"

namespace deltaswarm {

struct PlanOptions {
  uint64_t frame_bytes = 4ull << 20;
};

// Largest range coded as one kPatch frame (zstd with the base as prefix); the
// decoder's window is bounded by it.
constexpr uint64_t kMaxPatchBytes = 64ull << 20;

// Returns an index whose files, base_files, segments and frames (ranges only)
// are filled in; chunks, hashes, modes and content digests are left for the
// encoder. `base` may be null (keyframe).
DeltaIndex PlanDelta(const Checkpoint* base, const Checkpoint& target, const PlanOptions& options);

}  // namespace deltaswarm
