// Verification of chunks (SHA-256) and of checkpoints against a delta's
// target hashes (XXH3-128 per frame).
#include <algorithm>
#include <filesystem>
#include <set>

#include "codec/checkpoint_files.h"
#include "core/file.h"
#include "core/parallel.h"
#include "deltaswarm/delta.h"

namespace deltaswarm {

namespace fs = std::filesystem;

namespace {
constexpr uint64_t kHashBlock = 4ull << 20;

Status CheckNoExtraFiles(const std::string& dir, const DeltaIndex& index) {
  std::set<std::string> expected;
  for (const auto& f : index.files) expected.insert(f.path);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory()) continue;
    std::string rel = fs::relative(it->path(), dir).string();
    if (!expected.count(rel)) return Mismatch(dir + "/" + rel + ": not part of the delta's target");
  }
  if (ec) return IoError(dir + ": " + ec.message());
  return Status::Ok();
}
}  // namespace

Result<uint64_t> VerifyChunks(const std::string& delta_dir, const DeltaIndex& index, unsigned threads,
                              const ProgressFn& progress, std::span<const DeltaChunk> verified) {
  uint64_t total = index.delta_bytes(), done = 0, hashed = 0;
  auto vouched = [&](const DeltaChunk& c) {
    return std::any_of(verified.begin(), verified.end(), [&](const DeltaChunk& v) {
      return v.name == c.name && v.size == c.size && v.sha256 == c.sha256;
    });
  };
  // Each task: the chunk's size, and whether it was hashed.
  using Checked = std::pair<uint64_t, bool>;
  auto produce = [&](size_t i) -> Result<Checked> {
    const DeltaChunk& c = index.chunks[i];
    std::string path = delta_dir + "/" + c.name;
    auto file = File::OpenRead(path);
    if (!file.ok()) {
      if (file.status().code() == Code::kNotFound) return NotFound(path + ": chunk missing");
      return file.status();
    }
    DS_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    if (size != c.size)
      return Corruption(path + ": chunk has " + std::to_string(size) + " bytes, the index says " +
                        std::to_string(c.size) + " (truncated?)");
    if (vouched(c)) return Checked{size, false};
    Sha256Hasher hasher;
    for (uint64_t pos = 0; pos < size; pos += kHashBlock) {
      DS_ASSIGN_OR_RETURN(auto block, ReadRange(*file, pos, std::min(kHashBlock, size - pos), 0));
      hasher.Update(block);
    }
    if (hasher.Finish() != c.sha256) return Corruption(path + ": chunk sha256 mismatch (corrupt chunk)");
    return Checked{size, true};
  };
  auto consume = [&](size_t, Checked&& r) -> Status {
    done += r.first;
    if (r.second) hashed += r.first;
    if (progress) progress("check", done, total);
    return Status::Ok();
  };
  DS_RETURN_IF_ERROR(
      RunOrdered<Checked>(index.chunks.size(), ResolveThreads(threads), 2 * ResolveThreads(threads), produce, consume));
  return hashed;
}

Result<VerifyReport> VerifyAgainst(const std::string& path, const DeltaIndex& index, unsigned threads,
                                   const ProgressFn& progress) {
  if (!PathExists(path)) return NotFound(path + ": no such file or directory");
  bool is_dir = IsDirectory(path);
  if (is_dir != index.target_is_directory)
    return Mismatch(path + (is_dir ? ": is a directory, the delta's target is a single file"
                                   : ": is a file, the delta's target is a directory"));
  if (is_dir) DS_RETURN_IF_ERROR(CheckNoExtraFiles(path, index));

  std::vector<File> files;
  for (const auto& f : index.files) {
    std::string p = is_dir ? path + "/" + f.path : path;
    auto file = File::OpenRead(p);
    if (!file.ok()) {
      if (file.status().code() == Code::kNotFound) return Mismatch(p + ": missing");
      return file.status();
    }
    DS_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    if (size != f.size)
      return Mismatch(p + ": has " + std::to_string(size) + " bytes, the target has " + std::to_string(f.size));
    files.push_back(std::move(file).value());
  }

  uint64_t total = index.target_bytes(), done = 0;
  auto produce = [&](size_t i) -> Result<uint64_t> {
    const DeltaFrame& f = index.frames[i];
    const DeltaSegment& s = index.segments[f.segment];
    DS_ASSIGN_OR_RETURN(auto bytes, ReadRange(files[s.file], f.target_offset, f.raw_len, 0));
    if (HashBytes(bytes) != f.target_hash)
      return Mismatch(files[s.file].path() + ": bytes [" + std::to_string(f.target_offset) + ", " +
                      std::to_string(f.target_offset + f.raw_len) + ") ('" + s.name +
                      "') differ from the delta's target");
    return f.raw_len;
  };
  auto consume = [&](size_t, uint64_t&& bytes) -> Status {
    done += bytes;
    if (progress) progress("verify", done, total);
    return Status::Ok();
  };
  unsigned n = ResolveThreads(threads);
  DS_RETURN_IF_ERROR(RunOrdered<uint64_t>(index.frames.size(), n, 2 * n + 2, produce, consume));
  VerifyReport report;
  report.files = index.files.size();
  report.bytes = total;
  report.frames = index.frames.size();
  return report;
}

}  // namespace deltaswarm
