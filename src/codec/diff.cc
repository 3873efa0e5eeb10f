// deltaswarm diff: plan, encode frames on a pool, pack them in order into
// chunks, write the index, and install the directory in one rename.
#include <sys/stat.h>

#include <algorithm>
#include <optional>

#include "codec/checkpoint_files.h"
#include "codec/chunk_writer.h"
#include "codec/delta_plan.h"
#include "codec/frame_codec.h"
#include "core/file.h"
#include "core/parallel.h"
#include "deltaswarm/checkpoint.h"
#include "deltaswarm/delta.h"

namespace deltaswarm {

namespace {

Status CheckShapesAgree(const Checkpoint* base, const Checkpoint& target, const std::string& old_path,
                        const std::string& new_path) {
  if (base && base->is_directory != target.is_directory)
    return InvalidArgument(base->is_directory ? old_path + " is a directory but " + new_path + " is a file"
                                              : old_path + " is a file but " + new_path + " is a directory");
  return Status::Ok();
}

}  // namespace

Result<DiffStats> Diff(const std::string& old_path, const std::string& new_path, const std::string& out_dir,
                       const DiffOptions& options, const ProgressFn& progress) {
  if (options.frame_bytes < 4096 || options.frame_bytes > (1ull << 30))
    return InvalidArgument("frame size must be between 4 KiB and 1 GiB");
  if (options.chunk_bytes < 4096) return InvalidArgument("chunk size must be at least 4 KiB");
  if (PathExists(out_dir) && !options.force)
    return AlreadyExists(out_dir + ": already exists (use --force to replace it)");

  DS_ASSIGN_OR_RETURN(Checkpoint target, OpenCheckpoint(new_path));
  std::optional<Checkpoint> base;
  if (!old_path.empty()) {
    DS_ASSIGN_OR_RETURN(base, OpenCheckpoint(old_path));
  }
  DS_RETURN_IF_ERROR(CheckShapesAgree(base ? &*base : nullptr, target, old_path, new_path));

  DeltaIndex index = PlanDelta(base ? &*base : nullptr, target, {options.frame_bytes});
  index.zstd_level = options.zstd_level;
  DS_ASSIGN_OR_RETURN(std::vector<File> target_files, OpenCheckpointFiles(target));
  std::vector<File> base_files;
  if (base) {
    DS_ASSIGN_OR_RETURN(base_files, OpenCheckpointFiles(*base));
  }

  DS_RETURN_IF_ERROR(CreateParentDirectories(out_dir));
  std::string tmp = TempSibling(out_dir);
  DS_RETURN_IF_ERROR(MakeDirectory(tmp));
  TempOutputGuard guard(tmp);

  const uint64_t total = index.target_bytes();
  uint64_t done = 0;
  DiffStats stats;
  for (uint8_t m = 0; m <= kMaxFrameMode; ++m) stats.frames_by_mode[FrameModeName(static_cast<FrameMode>(m))] = 0;
  ChunkWriter writer(tmp, options.chunk_bytes);
  FrameEncodeOptions encode{options.zstd_level};
  unsigned threads = ResolveThreads(options.threads);

  auto produce = [&](size_t i) -> Result<EncodedFrame> {
    const DeltaFrame& f = index.frames[i];
    const DeltaSegment& s = index.segments[f.segment];
    DS_ASSIGN_OR_RETURN(auto target_bytes, ReadRange(target_files[s.file], f.target_offset, f.raw_len, 0));
    std::span<const std::byte> base_bytes;
    if (s.base_file != kNoBase) {
      DS_ASSIGN_OR_RETURN(base_bytes, ReadRange(base_files[s.base_file], f.base_offset, f.base_len, 1));
    }
    auto encoded = EncodeFrame(s.dtype, base_bytes, target_bytes, encode);
    if (!encoded.ok()) return encoded.status().Prefixed(index.files[s.file].path + ": '" + s.name + "'");
    return encoded;
  };
  auto consume = [&](size_t i, EncodedFrame&& e) -> Status {
    DeltaFrame& f = index.frames[i];
    DS_RETURN_IF_ERROR(writer.Append(e.bytes, &f.chunk, &f.chunk_offset));
    f.stored_len = e.bytes.size();
    f.mode = static_cast<uint8_t>(e.header.mode);
    f.changed = e.header.changed;
    f.base_hash = e.header.base_hash;
    f.target_hash = e.header.target_hash;
    stats.frames_by_mode[FrameModeName(e.header.mode)]++;
    if (index.segments[f.segment].base_file != kNoBase) {
      stats.elements += f.raw_len / Info(index.segments[f.segment].dtype).width;
      stats.changed += f.changed;
    }
    done += f.raw_len;
    if (progress) progress("encode", done, total);
    return Status::Ok();
  };
  DS_RETURN_IF_ERROR(RunOrdered<EncodedFrame>(index.frames.size(), threads, 2 * threads + 2, produce, consume));
  DS_ASSIGN_OR_RETURN(index.chunks, writer.Finish());

  // A file's content digest chains its frames' target hashes in file order.
  std::vector<Hash128> digests = ContentDigests(index);
  for (size_t i = 0; i < index.files.size(); ++i) index.files[i].content_digest = digests[i];

  std::vector<std::byte> index_bytes = SerializeIndex(index);
  DS_RETURN_IF_ERROR(WriteFileDurably(tmp + "/" + kIndexFileName, index_bytes));
  DS_RETURN_IF_ERROR(InstallOutput(tmp, out_dir, options.force));
  guard.Release();

  stats.target_bytes = total;
  stats.delta_bytes = index.delta_bytes();
  stats.index_bytes = index_bytes.size();
  stats.frames = index.frames.size();
  stats.chunks = index.chunks.size();
  return stats;
}

}  // namespace deltaswarm
