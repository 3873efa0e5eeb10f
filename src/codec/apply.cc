// deltaswarm apply: check chunks, decode frames on a pool straight into a
// temporary output, fsync, re-verify what landed on disk, then rename.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "codec/checkpoint_files.h"
#include "codec/frame_codec.h"
#include "core/file.h"
#include "core/parallel.h"
#include "deltaswarm/delta.h"

namespace deltaswarm {

namespace fs = std::filesystem;

namespace {

// For each target file, the base file it is byte-identical to (every frame
// unchanged, same offsets, same size), or kNoBase.
std::vector<uint32_t> UnchangedFiles(const DeltaIndex& index) {
  std::vector<uint32_t> same(index.files.size(), kNoBase);
  std::vector<bool> candidate(index.files.size(), true);
  for (const auto& s : index.segments) {
    uint32_t& b = same[s.file];
    bool ok = s.base_file != kNoBase && s.base_offset == s.offset && s.base_length == s.length &&
              index.base_files[s.base_file].size == index.files[s.file].size && (b == kNoBase || b == s.base_file);
    for (uint64_t k = s.first_frame; ok && k < s.first_frame + s.frame_count; ++k)
      ok = index.frames[k].mode == static_cast<uint8_t>(FrameMode::kUnchanged);
    if (!ok) candidate[s.file] = false;
    if (ok && candidate[s.file]) b = s.base_file;
  }
  for (size_t i = 0; i < same.size(); ++i)
    if (!candidate[i]) same[i] = kNoBase;
  return same;
}

// Creates the temporary output: one file, or a directory tree of files, each
// with its final size reserved. Files in `link_from` (not kNoBase) are hard
// links to those base files instead, where the filesystem allows.
Result<std::vector<File>> CreateOutputs(const std::string& tmp, const DeltaIndex& index,
                                        std::vector<uint32_t>& link_from, const std::vector<File>& base_files) {
  std::vector<File> out;
  if (index.target_is_directory) {
    DS_RETURN_IF_ERROR(MakeDirectory(tmp));
  }
  for (const auto& f : index.files) {
    std::string path = index.target_is_directory ? tmp + "/" + f.path : tmp;
    if (index.target_is_directory) {
      DS_RETURN_IF_ERROR(CreateParentDirectories(path));
    }
    size_t i = out.size();
    if (link_from[i] != kNoBase) {
      if (Link(base_files[link_from[i]].path(), path).ok()) {
        out.emplace_back();
        continue;
      }
      link_from[i] = kNoBase;  // another filesystem, say: write it
    }
    DS_ASSIGN_OR_RETURN(File file, File::CreateNew(path));
    DS_RETURN_IF_ERROR(file.Allocate(f.size));
    out.push_back(std::move(file));
  }
  return out;
}

Status SyncOutputs(const std::string& tmp, const DeltaIndex& index, std::vector<File>& files) {
  for (auto& f : files) {
    if (!f.is_open()) continue;  // a hard link to a base file
    DS_RETURN_IF_ERROR(f.Sync());
    DS_RETURN_IF_ERROR(f.Close());
  }
  if (!index.target_is_directory) return Status::Ok();
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(tmp, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_directory()) DS_RETURN_IF_ERROR(SyncDirectory(it->path().string()));
  return SyncDirectory(tmp);
}

Status CheckFrameMatchesIndex(const FrameHeader& h, const DeltaFrame& f, const std::string& where) {
  if (static_cast<uint8_t>(h.mode) != f.mode || h.raw_len != f.raw_len || h.base_len != f.base_len ||
      h.target_hash != f.target_hash || h.base_hash != f.base_hash)
    return Corruption(where + ": frame header disagrees with the index");
  return Status::Ok();
}

}  // namespace

Result<ApplyStats> Apply(const std::string& base_path, const std::string& delta_dir, const std::string& out_path,
                         const ApplyOptions& options, const ProgressFn& progress) {
  if (PathExists(out_path) && !options.force)
    return AlreadyExists(out_path + ": already exists (use --force to replace it)");
  DS_ASSIGN_OR_RETURN(DeltaIndex index, ReadDeltaIndex(delta_dir));
  DS_ASSIGN_OR_RETURN(std::vector<File> base_files, OpenBaseFiles(base_path, index));

  const uint64_t total = index.target_bytes();
  DS_RETURN_IF_ERROR(CreateParentDirectories(out_path));
  DS_ASSIGN_OR_RETURN(uint64_t free_bytes, FreeSpace(ParentDirectory(out_path)));
  if (free_bytes < total)
    return NoSpace(out_path + ": needs " + std::to_string(total) + " bytes, only " + std::to_string(free_bytes) +
                   " free");

  unsigned threads = ResolveThreads(options.threads);
  DS_ASSIGN_OR_RETURN(const uint64_t hashed,
                      VerifyChunks(delta_dir, index, threads, progress, options.verified_chunks));

  std::string tmp = TempSibling(out_path);
  TempOutputGuard guard(tmp);
  std::vector<uint32_t> link_from(index.files.size(), kNoBase);
  if (options.link_unchanged && index.target_is_directory) link_from = UnchangedFiles(index);
  DS_ASSIGN_OR_RETURN(std::vector<File> outputs, CreateOutputs(tmp, index, link_from, base_files));

  uint64_t done = 0;
  auto produce = [&](size_t i) -> Result<uint64_t> {
    const DeltaFrame& f = index.frames[i];
    const DeltaSegment& s = index.segments[f.segment];
    if (link_from[s.file] != kNoBase) return f.raw_len;
    std::string where = delta_dir + "/" + index.chunks[f.chunk].name + " frame " + std::to_string(i);
    DS_ASSIGN_OR_RETURN(File chunk, File::OpenRead(delta_dir + "/" + index.chunks[f.chunk].name));
    DS_ASSIGN_OR_RETURN(auto stored, ReadRange(chunk, f.chunk_offset, f.stored_len, 0));
    DS_ASSIGN_OR_RETURN(FrameHeader header, ParseFrameHeader(stored));
    DS_RETURN_IF_ERROR(CheckFrameMatchesIndex(header, f, where));
    std::span<const std::byte> base;
    if (s.base_file != kNoBase) {
      DS_ASSIGN_OR_RETURN(base, ReadRange(base_files[s.base_file], f.base_offset, f.base_len, 1));
    }
    thread_local std::vector<std::byte> decoded;
    if (decoded.size() < f.raw_len) decoded.resize(f.raw_len);
    std::span<std::byte> out(decoded.data(), f.raw_len);
    Status st = DecodeFrame(stored, base, out);
    if (!st.ok()) {
      std::string what = index.files[s.file].path + " '" + s.name + "'";
      if (st.code() == Code::kMismatch)
        return Mismatch(base_path + ": does not match the delta's base at " + what + " (wrong base?)");
      return st.Prefixed(where + " (" + what + ")");
    }
    DS_RETURN_IF_ERROR(outputs[s.file].WriteAt(f.target_offset, out));
    return f.raw_len;
  };
  auto consume = [&](size_t, uint64_t&& bytes) -> Status {
    done += bytes;
    if (progress) progress("apply", done, total);
    return Status::Ok();
  };
  DS_RETURN_IF_ERROR(RunOrdered<uint64_t>(index.frames.size(), threads, 2 * threads + 2, produce, consume));

  std::vector<Hash128> digests = ContentDigests(index);
  for (size_t i = 0; i < index.files.size(); ++i)
    if (digests[i] != index.files[i].content_digest)
      return Corruption(delta_dir + ": content digest of '" + index.files[i].path + "' disagrees with its frames");

  DS_RETURN_IF_ERROR(SyncOutputs(tmp, index, outputs));
  // Read back what reached the filesystem before it replaces anything.
  DS_RETURN_IF_ERROR(VerifyAgainst(tmp, index, threads, progress).status());
  DS_RETURN_IF_ERROR(InstallOutput(tmp, out_path, options.force));
  guard.Release();

  ApplyStats stats;
  stats.target_bytes = total;
  stats.delta_bytes = index.delta_bytes();
  stats.files = index.files.size();
  stats.frames = index.frames.size();
  for (uint32_t b : link_from) stats.linked_files += b != kNoBase;
  stats.hashed_chunk_bytes = hashed;
  return stats;
}

}  // namespace deltaswarm
