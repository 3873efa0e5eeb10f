// deltaswarm apply: check chunks, decode frames on a pool straight into a
// temporary output, fsync, re-verify what landed on disk, then rename.
#include <sys/stat.h>

#include <filesystem>

#include "codec/checkpoint_files.h"
#include "codec/frame_codec.h"
#include "core/file.h"
#include "core/parallel.h"
#include "deltaswarm/delta.h"

namespace deltaswarm {

namespace fs = std::filesystem;

namespace {

// Creates the temporary output: one file, or a directory tree of files, each
// with its final size reserved.
Result<std::vector<File>> CreateOutputs(const std::string& tmp, const DeltaIndex& index) {
  std::vector<File> out;
  if (index.target_is_directory && ::mkdir(tmp.c_str(), 0755) != 0) return ErrnoStatus(tmp, errno);
  for (const auto& f : index.files) {
    std::string path = index.target_is_directory ? tmp + "/" + f.path : tmp;
    if (index.target_is_directory) {
      std::error_code ec;
      fs::create_directories(fs::path(path).parent_path(), ec);
      if (ec) return IoError(path + ": cannot create directory: " + ec.message());
    }
    DS_ASSIGN_OR_RETURN(File file, File::CreateNew(path));
    DS_RETURN_IF_ERROR(file.Allocate(f.size));
    out.push_back(std::move(file));
  }
  return out;
}

Status SyncOutputs(const std::string& tmp, const DeltaIndex& index, std::vector<File>& files) {
  for (auto& f : files) {
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
  DS_RETURN_IF_ERROR(VerifyChunks(delta_dir, index, threads, progress));

  std::string tmp = TempSibling(out_path);
  TempOutputGuard guard(tmp);
  DS_ASSIGN_OR_RETURN(std::vector<File> outputs, CreateOutputs(tmp, index));

  uint64_t done = 0;
  auto produce = [&](size_t i) -> Result<uint64_t> {
    const DeltaFrame& f = index.frames[i];
    const DeltaSegment& s = index.segments[f.segment];
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
  return stats;
}

}  // namespace deltaswarm
