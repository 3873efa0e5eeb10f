// The codec's operations on checkpoints and delta directories: diff, apply,
// verify. All stream through bounded buffers and run on a pool of threads;
// outputs are byte-identical for any thread count.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "deltaswarm/delta_index.h"
#include "deltaswarm/progress.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

struct DiffOptions {
  unsigned threads = 0;                   // 0: all cores
  uint64_t frame_bytes = 4ull << 20;      // raw bytes per frame
  uint64_t chunk_bytes = 32ull << 20;     // target size of a chunk file
  int zstd_level = 3;
  bool force = false;                     // replace an existing output directory
};

struct DiffStats {
  uint64_t target_bytes = 0;
  uint64_t delta_bytes = 0;   // sum of chunk sizes
  uint64_t index_bytes = 0;
  uint64_t frames = 0;
  uint64_t chunks = 0;
  uint64_t elements = 0;      // elements in frames that had a base
  uint64_t changed = 0;       // of those, how many differ
  std::map<std::string, uint64_t> frames_by_mode;  // by mode name (docs/FORMAT.md), every mode listed
};

// Writes the delta from old_path to new_path (each a file or a checkpoint
// directory) into out_dir, which must not exist unless options.force. An empty
// old_path makes a keyframe. The directory appears complete or not at all.
Result<DiffStats> Diff(const std::string& old_path, const std::string& new_path, const std::string& out_dir,
                       const DiffOptions& options, const ProgressFn& progress);

struct ApplyOptions {
  unsigned threads = 0;
  bool force = false;  // replace an existing output, only after the new one is verified
  // A target file the delta leaves identical to its base file is hard-linked
  // to it instead of rewritten (directory targets; falls back to writing).
  bool link_unchanged = false;
  // Chunks whose SHA-256 the caller has already checked against these very
  // entries (a download that hashed every object, a swarm whose signed
  // torrent's piece hashes libtorrent checked): an index chunk equal to one
  // of them (name, size, sha256) is checked for its size only. Every frame's
  // base and target hashes are checked all the same.
  std::vector<DeltaChunk> verified_chunks;
};

struct ApplyStats {
  uint64_t target_bytes = 0;
  uint64_t delta_bytes = 0;
  uint64_t files = 0;
  uint64_t frames = 0;
  uint64_t linked_files = 0;
  uint64_t hashed_chunk_bytes = 0;  // chunk bytes whose SHA-256 this apply computed
};

// Builds out_path from base_path (empty for a keyframe) and delta_dir: under a
// temporary name beside it, verifying every chunk (SHA-256) and frame
// (XXH3-128), fsyncing, then renaming. The base is only read.
Result<ApplyStats> Apply(const std::string& base_path, const std::string& delta_dir, const std::string& out_path,
                         const ApplyOptions& options, const ProgressFn& progress);

struct VerifyReport {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t frames = 0;
};

// Checks that path (a file or directory) holds exactly the target the index
// describes: file names, sizes and every frame's target hash. kMismatch names
// the first differing file and offset.
Result<VerifyReport> VerifyAgainst(const std::string& path, const DeltaIndex& index, unsigned threads,
                                   const ProgressFn& progress);

// Checks every chunk of a delta directory: present, right size, right
// SHA-256; a chunk equal to an entry of `verified` only for presence and
// size. Returns the bytes hashed.
Result<uint64_t> VerifyChunks(const std::string& delta_dir, const DeltaIndex& index, unsigned threads,
                              const ProgressFn& progress, std::span<const DeltaChunk> verified = {});

}  // namespace deltaswarm
