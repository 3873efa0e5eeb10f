// index.dsi: serialisation and validation. Layout (docs/FORMAT.md):
//   "DSWINDEX" | u32 version | u32 flags | u64 body_len | body | XXH3-128(all before)
// The body uses varints for integers and raw bytes for digests.
#include "deltaswarm/delta_index.h"

#include <algorithm>
#include <set>

#include "codec/frame_codec.h"
#include "core/bytes.h"
#include "core/file.h"
#include "format/printable.h"

namespace deltaswarm {

namespace {

constexpr char kMagic[8] = {'D', 'S', 'W', 'I', 'N', 'D', 'E', 'X'};
constexpr uint32_t kFlagDirectory = 1;
constexpr uint64_t kMaxIndexBytes = 4ull << 30;
constexpr uint64_t kMinStoredFrame = kFrameHeaderSize;
constexpr uint8_t kFullMode = static_cast<uint8_t>(FrameMode::kFull);
constexpr uint8_t kPatchMode = static_cast<uint8_t>(FrameMode::kPatch);
constexpr uint64_t kMaxFrameBytes = 1ull << 30;  // diff's largest --frame-size; patches are <= 64 MiB

void PutDigest(ByteWriter& w, const auto& d) { w.Bytes(std::span<const uint8_t>(d.bytes)); }
void GetDigest(ByteReader& r, auto& d) { r.Bytes(std::span<uint8_t>(d.bytes)); }

// A relative path that cannot escape the output directory, with no control
// character (names are printed: a terminal would obey one).
bool SafeRelativePath(const std::string& p) {
  if (HasControlCharacter(p)) return false;
  if (p.empty() || p.front() == '/' || p.back() == '/') return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool SafeChunkName(const std::string& n) {
  if (n.empty() || n.size() > 255 || n == "." || n == "..") return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
  });
}

// A name for a message, in single quotes, its control characters escaped.
std::string Quote(const std::string& s) { return "'" + Printable(s, '\'') + "'"; }

bool RangeWithin(uint64_t offset, uint64_t len, uint64_t size) { return offset <= size && len <= size - offset; }

}  // namespace

uint64_t DeltaIndex::target_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files) n += f.size;
  return n;
}

uint64_t DeltaIndex::delta_bytes() const {
  uint64_t n = 0;
  for (const auto& c : chunks) n += c.size;
  return n;
}

std::vector<Hash128> ContentDigests(const DeltaIndex& index) {
  std::vector<std::vector<Hash128>> per_file(index.files.size());
  for (const auto& f : index.frames) per_file[index.segments[f.segment].file].push_back(f.target_hash);
  std::vector<Hash128> out;
  for (const auto& hashes : per_file) out.push_back(HashOfHashes(hashes));
  return out;
}

std::vector<std::byte> SerializeIndex(const DeltaIndex& index) {
  ByteWriter body;
  body.Varint(index.frame_bytes);
  body.Varint(static_cast<uint32_t>(index.zstd_level));
  body.Varint(index.base_files.size());
  for (const auto& b : index.base_files) {
    body.String(b.path);
    body.Varint(b.size);
  }
  body.Varint(index.files.size());
  for (const auto& f : index.files) {
    body.String(f.path);
    body.Varint(f.size);
    PutDigest(body, f.content_digest);
  }
  body.Varint(index.segments.size());
  for (const auto& s : index.segments) {
    body.Varint(s.file);
    body.Varint(s.offset);
    body.Varint(s.length);
    body.U8(static_cast<uint8_t>(s.kind));
    body.String(s.name);
    body.U8(static_cast<uint8_t>(s.dtype));
    body.Varint(s.base_file == kNoBase ? 0 : uint64_t{s.base_file} + 1);
    body.Varint(s.base_offset);
    body.Varint(s.base_length);
    body.Varint(s.first_frame);
    body.Varint(s.frame_count);
  }
  body.Varint(index.chunks.size());
  for (const auto& c : index.chunks) {
    body.String(c.name);
    body.Varint(c.size);
    PutDigest(body, c.sha256);
  }
  body.Varint(index.frames.size());
  for (const auto& f : index.frames) {
    body.Varint(f.segment);
    body.Varint(f.target_offset);
    body.Varint(f.raw_len);
    body.Varint(f.base_offset);
    body.Varint(f.base_len);
    body.U8(f.mode);
    body.Varint(f.chunk);
    body.Varint(f.chunk_offset);
    body.Varint(f.stored_len);
    body.Varint(f.changed);
    PutDigest(body, f.base_hash);
    PutDigest(body, f.target_hash);
  }

  ByteWriter out;
  out.Bytes(std::as_bytes(std::span(kMagic)));
  out.U32(index.version);
  out.U32(index.target_is_directory ? kFlagDirectory : 0);
  out.U64(body.data().size());
  out.Bytes(body.data());
  Hash128 check = HashBytes(out.data());
  PutDigest(out, check);
  return std::move(out.data());
}

namespace {

// Reads the body; structural cross-checks come after, in Validate.
Status ReadBody(ByteReader& r, DeltaIndex& x, const std::string& name) {
  auto bad = [&](const std::string& what) { return Corruption(name + ": " + what); };
  // A count larger than the bytes left divided by the smallest encoding of one
  // record is corrupt; this also bounds allocations on hostile input.
  auto count = [&](const char* what, uint64_t min_record, uint64_t& n) -> Status {
    n = r.Varint();
    if (!r.ok() || n > r.remaining() / min_record) return bad(std::string("bad ") + what + " count");
    return Status::Ok();
  };
  uint64_t n = 0;
  x.frame_bytes = r.Varint();
  x.zstd_level = static_cast<int32_t>(static_cast<uint32_t>(r.Varint()));
  DS_RETURN_IF_ERROR(count("base file", 2, n));
  x.base_files.resize(n);
  for (auto& b : x.base_files) {
    b.path = r.String();
    b.size = r.Varint();
  }
  DS_RETURN_IF_ERROR(count("file", 18, n));
  x.files.resize(n);
  for (auto& f : x.files) {
    f.path = r.String();
    f.size = r.Varint();
    GetDigest(r, f.content_digest);
  }
  DS_RETURN_IF_ERROR(count("segment", 11, n));
  x.segments.resize(n);
  for (auto& s : x.segments) {
    uint64_t file = r.Varint();
    s.file = file > kNoBase ? kNoBase : static_cast<uint32_t>(file);
    s.offset = r.Varint();
    s.length = r.Varint();
    uint8_t kind = r.U8();
    if (kind > 2) return bad("segment kind " + std::to_string(kind) + " unknown");
    s.kind = static_cast<SegmentKind>(kind);
    s.name = r.String();
    auto dtype = DTypeFromCode(r.U8());
    if (!dtype) return bad("segment dtype unknown");
    s.dtype = *dtype;
    uint64_t base = r.Varint();
    s.base_file = base == 0 || base > kNoBase ? kNoBase : static_cast<uint32_t>(base - 1);
    if (base > kNoBase) return bad("segment base file out of range");
    s.base_offset = r.Varint();
    s.base_length = r.Varint();
    s.first_frame = r.Varint();
    s.frame_count = r.Varint();
  }
  DS_RETURN_IF_ERROR(count("chunk", 34, n));
  x.chunks.resize(n);
  for (auto& c : x.chunks) {
    c.name = r.String();
    c.size = r.Varint();
    GetDigest(r, c.sha256);
  }
  DS_RETURN_IF_ERROR(count("frame", 42, n));
  x.frames.resize(n);
  for (auto& f : x.frames) {
    uint64_t seg = r.Varint();
    f.segment = seg > kNoBase ? kNoBase : static_cast<uint32_t>(seg);
    f.target_offset = r.Varint();
    f.raw_len = r.Varint();
    f.base_offset = r.Varint();
    f.base_len = r.Varint();
    f.mode = r.U8();
    uint64_t chunk = r.Varint();
    f.chunk = chunk > kNoBase ? kNoBase : static_cast<uint32_t>(chunk);
    f.chunk_offset = r.Varint();
    f.stored_len = r.Varint();
    f.changed = r.Varint();
    GetDigest(r, f.base_hash);
    GetDigest(r, f.target_hash);
  }
  if (!r.ok()) return bad("truncated body");
  if (r.remaining() != 0) return bad("trailing bytes after the frame list");
  return Status::Ok();
}

Status Validate(const DeltaIndex& x, const std::string& name) {
  auto bad = [&](const std::string& what) { return Corruption(name + ": " + what); };
  if (x.files.empty()) return bad("no target files");
  if (!x.target_is_directory && x.files.size() != 1) return bad("a single-file delta must have one target file");
  std::set<std::string> seen;
  for (const auto& f : x.files) {
    if (!SafeRelativePath(f.path)) return bad("unsafe target path " + Quote(f.path));
    if (!seen.insert(f.path).second) return bad("duplicate target path " + Quote(f.path));
  }
  for (const auto& b : x.base_files)
    if (!SafeRelativePath(b.path)) return bad("unsafe base path " + Quote(b.path));
  std::set<std::string> chunk_names;
  for (const auto& c : x.chunks)
    if (!SafeChunkName(c.name) || !chunk_names.insert(c.name).second)
      return bad("bad or duplicate chunk name " + Quote(c.name));

  // Segments tile each file in order; frames tile each segment in order.
  uint32_t file = 0;
  uint64_t file_pos = 0;
  uint64_t next_frame = 0;
  auto close_files_until = [&](uint32_t upto) -> Status {
    for (; file < upto; ++file, file_pos = 0)
      if (file_pos != x.files[file].size)
        return bad("segments of " + Quote(x.files[file].path) + " cover " + std::to_string(file_pos) + " of " +
                   std::to_string(x.files[file].size) + " bytes");
    return Status::Ok();
  };
  for (size_t i = 0; i < x.segments.size(); ++i) {
    const auto& s = x.segments[i];
    std::string where = "segment " + std::to_string(i) + " (" + Quote(s.name) + ")";
    // A tensor's name, or its file's path: printed by inspect and in errors.
    if (HasControlCharacter(s.name)) return bad(where + ": name holds a control character");
    if (s.file >= x.files.size() || s.file < file) return bad(where + ": file index out of order");
    DS_RETURN_IF_ERROR(close_files_until(s.file));
    if (s.offset != file_pos || !RangeWithin(s.offset, s.length, x.files[s.file].size))
      return bad(where + ": does not continue its file at offset " + std::to_string(file_pos));
    file_pos += s.length;
    if (s.base_file != kNoBase) {
      if (s.base_file >= x.base_files.size()) return bad(where + ": base file index out of range");
      if (!RangeWithin(s.base_offset, s.base_length, x.base_files[s.base_file].size))
        return bad(where + ": base range outside the base file");
    }
    if (s.first_frame != next_frame || s.frame_count > x.frames.size() - next_frame)
      return bad(where + ": frame range out of order");
    uint64_t pos = s.offset;
    for (uint64_t k = s.first_frame; k < s.first_frame + s.frame_count; ++k) {
      const auto& f = x.frames[k];
      std::string fw = "frame " + std::to_string(k);
      if (f.segment != i) return bad(fw + ": belongs to another segment");
      if (f.target_offset != pos || f.raw_len == 0 || !RangeWithin(f.target_offset, f.raw_len, s.offset + s.length))
        return bad(fw + ": does not tile its segment");
      pos += f.raw_len;
      if (s.base_file == kNoBase) {
        if (f.base_len != 0) return bad(fw + ": has a base range but its segment has none");
      } else if (f.base_offset < s.base_offset ||
                 !RangeWithin(f.base_offset - s.base_offset, f.base_len, s.base_length)) {
        return bad(fw + ": base range outside its segment's");
      }
      if (f.mode > kMaxFrameMode) return bad(fw + ": unknown mode " + std::to_string(f.mode));
      // Frames are bounded so that a decoder's buffers are (see delta_plan.h).
      if (f.raw_len > kMaxFrameBytes || f.base_len > kMaxFrameBytes) return bad(fw + ": larger than a frame may be");
      bool patch = f.mode == kPatchMode, full = f.mode == kFullMode;
      if ((full && f.base_len != 0) || (!full && !patch && f.base_len != f.raw_len))
        return bad(fw + ": base range does not fit its mode");
      if (f.chunk >= x.chunks.size() || f.stored_len < kMinStoredFrame ||
          !RangeWithin(f.chunk_offset, f.stored_len, x.chunks[f.chunk].size))
        return bad(fw + ": chunk range out of bounds");
    }
    if (pos != s.offset + s.length) return bad(where + ": frames do not cover it");
    next_frame += s.frame_count;
  }
  DS_RETURN_IF_ERROR(close_files_until(static_cast<uint32_t>(x.files.size())));
  if (next_frame != x.frames.size()) return bad("frames not owned by any segment");
  return Status::Ok();
}

}  // namespace

Result<DeltaIndex> ParseIndex(std::span<const std::byte> bytes, const std::string& name) {
  constexpr size_t kFixed = 8 + 4 + 4 + 8;
  if (bytes.size() < kFixed + 16) return Corruption(name + ": too short to be a delta index");
  if (!std::equal(kMagic, kMagic + 8, reinterpret_cast<const char*>(bytes.data())))
    return Corruption(name + ": not a deltaswarm index (bad magic)");
  ByteReader r(bytes);
  r.Take(8);
  DeltaIndex x;
  x.version = r.U32();
  if (x.version != kIndexVersion)
    return Unsupported(name + ": index version " + std::to_string(x.version) + " not supported (this build reads " +
                       std::to_string(kIndexVersion) + ")");
  uint32_t flags = r.U32();
  if (flags & ~kFlagDirectory) return Unsupported(name + ": unknown index flags");
  x.target_is_directory = flags & kFlagDirectory;
  uint64_t body_len = r.U64();
  if (body_len != bytes.size() - kFixed - 16) return Corruption(name + ": truncated or padded (length mismatch)");
  Hash128 stored;
  std::copy_n(reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size() - 16, 16, stored.bytes.begin());
  if (HashBytes(bytes.first(bytes.size() - 16)) != stored) return Corruption(name + ": checksum mismatch");
  ByteReader body(r.Take(body_len));
  DS_RETURN_IF_ERROR(ReadBody(body, x, name));
  DS_RETURN_IF_ERROR(Validate(x, name));
  return x;
}

Result<DeltaIndex> ReadDeltaIndex(const std::string& delta_dir) {
  std::string path = delta_dir + "/" + kIndexFileName;
  if (!IsDirectory(delta_dir)) {
    if (!PathExists(delta_dir)) return NotFound(delta_dir + ": no such delta directory");
    return InvalidArgument(delta_dir + ": not a delta directory");
  }
  auto bytes = ReadWholeFile(path, kMaxIndexBytes);
  if (!bytes.ok()) {
    if (bytes.status().code() == Code::kNotFound)
      return NotFound(path + ": missing (is " + delta_dir + " a delta directory?)");
    return bytes.status();
  }
  return ParseIndex(*bytes, path);
}

}  // namespace deltaswarm
