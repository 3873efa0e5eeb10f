// Frame layout, version 2 (all integers little-endian; version 1 is the same
// without modes 5 and 6):
//
//   offset  size  field
//        0     4  magic "DSFR"
//        4     1  version (2, or 1)
//        5     1  mode: 0 unchanged, 1 sparse, 2 dense, 3 full, 4 patch,
//                 5 class-sparse, 6 class-dense (version 2 only)
//        6     1  dtype code (include/deltaswarm/dtype.h; 0 = raw bytes)
//        7     1  reserved, 0
//        8     8  raw_len: target bytes produced
//       16     8  base_len: base bytes consumed (0 for full)
//       24     8  payload_len: bytes after the header
//       32     8  changed: elements that differ (0 unchanged, K sparse and
//                 dense, raw_len / width full, raw_len patch)
//       40    16  base_hash: XXH3-128 of the base range, canonical (big-endian)
//                 form; all zero for full
//       56    16  target_hash: XXH3-128 of the target range
//       72     8  reserved, 0
//       80     payload_len bytes of payload
//
// Elements are width bytes (dtype width; 1 for raw), little-endian. ord(x) is
// the order-preserving map of float bit patterns (x ^ all-ones when the sign
// bit is set, else x ^ sign bit), the identity for other dtypes; differences
// are taken mod 2^(8*width) and d = zigzag(ord(new) - ord(old)) (0 -> 0,
// -1 -> 1, 1 -> 2, ...). Byte planes: plane b holds byte b of every element,
// planes in order 0..width-1, trailing bytes that form no whole element last.
//
// Payloads by mode:
//   unchanged  empty; target == base (base_len == raw_len).
//   sparse     varint K (LEB128) then an LZMA-style binary range-coded stream
//              (32-bit range, 15-bit probabilities with count-based rates,
//              initial 0 byte, 5-byte flush; range_coder.h) of K pairs
//              (gap, d), gap = i - prev - 1 with prev starting at -1 and
//              d >= 1, in increasing i; the model is in sparse_coder.cc.
//   class-sparse  varint K then a range-coded stream of per-class gaps and
//              differences (class_sparse_coder.h).
//   dense      one zstd frame of the byte planes of d for every element.
//   class-dense   a range-coded stream of d for every element, per base
//              exponent (class_dense_coder.h).
//   full       one zstd frame of the byte planes of the target.
//   patch      one zstd frame of the target, compressed with the base range as
//              a raw prefix (ZSTD_CCtx_refPrefix), window <= 2^27 bytes.
#include "codec/frame_codec.h"

#include <cstring>
#include <string>

#include "codec/byte_planes.h"
#include "codec/class_dense_coder.h"
#include "codec/class_sparse_coder.h"
#include "codec/sparse_coder.h"
#include "codec/zstd_codec.h"
#include "core/bytes.h"

namespace deltaswarm {
namespace {

constexpr char kMagic[4] = {'D', 'S', 'F', 'R'};

void WriteHeader(const FrameHeader& h, std::byte* dst) {
  ByteWriter w;
  w.Bytes(std::as_bytes(std::span(kMagic)));
  w.U8(h.version);
  w.U8(static_cast<uint8_t>(h.mode));
  w.U8(static_cast<uint8_t>(h.dtype));
  w.U8(0);
  w.U64(h.raw_len);
  w.U64(h.base_len);
  w.U64(h.payload_len);
  w.U64(h.changed);
  w.Bytes(h.base_hash.bytes);
  w.Bytes(h.target_hash.bytes);
  w.U64(0);
  std::memcpy(dst, w.data().data(), kFrameHeaderSize);
}

// A frame under construction: header space, then the payload appended by a coder.
struct FrameBuilder {
  FrameHeader header;
  std::vector<std::byte> bytes = std::vector<std::byte>(kFrameHeaderSize);

  EncodedFrame Finish() && {
    header.payload_len = bytes.size() - kFrameHeaderSize;
    WriteHeader(header, bytes.data());
    return EncodedFrame{header, std::move(bytes)};
  }
};

// Float dtypes: class-dense, whose exponent context sees what byte planes
// cannot; integers: byte planes of d, zstd.
Result<EncodedFrame> EncodeDense(FrameHeader h, std::span<const std::byte> base,
                                 std::span<const std::byte> target, int level) {
  const DTypeInfo& info = Info(h.dtype);
  FrameBuilder f{h};
  if (info.is_float) {
    f.header.mode = FrameMode::kClassDense;
    f.bytes.reserve(kFrameHeaderSize + target.size() / 2);
    EncodeClassDense(h.dtype, base, target, &f.bytes);
    return std::move(f).Finish();
  }
  std::vector<std::byte> planes(target.size());
  SplitDeltaPlanes(base, target, info.width, info.is_float, planes);
  f.header.mode = FrameMode::kDense;
  DS_RETURN_IF_ERROR(ZstdCompress(planes, level, &f.bytes));
  return std::move(f).Finish();
}

EncodedFrame EncodeSparseFrame(FrameMode mode, FrameHeader h, std::span<const std::byte> base,
                               std::span<const std::byte> target) {
  FrameBuilder f{h};
  f.header.mode = mode;
  // About 1.5 bytes per change at typical densities; vector growth covers the rest.
  f.bytes.reserve(kFrameHeaderSize + 16 + h.changed * 3 / 2);
  if (mode == FrameMode::kClassSparse) {
    EncodeClassSparse(h.dtype, base, target, h.changed, &f.bytes);
  } else {
    EncodeSparse(h.dtype, base, target, h.changed, &f.bytes);
  }
  return std::move(f).Finish();
}

// Below this many changes both sparse coders run and the smaller frame is
// kept: there the class coder's cost of learning a model per class can exceed
// what the classes save, and the second encoding is cheap.
constexpr uint64_t kTryBothSparseBelow = 16384;

// Float dtypes: class-sparse, or plain sparse when that is smaller. Integer
// dtypes have a single class, where the plain coder is the same code, faster,
// with the previous gap as context.
EncodedFrame EncodeSparsest(FrameHeader h, std::span<const std::byte> base, std::span<const std::byte> target) {
  if (!Info(h.dtype).is_float) return EncodeSparseFrame(FrameMode::kSparse, h, base, target);
  EncodedFrame by_class = EncodeSparseFrame(FrameMode::kClassSparse, h, base, target);
  if (h.changed >= kTryBothSparseBelow) return by_class;
  EncodedFrame plain = EncodeSparseFrame(FrameMode::kSparse, h, base, target);
  return plain.bytes.size() < by_class.bytes.size() ? std::move(plain) : std::move(by_class);
}

// Equal sizes: the cheapest of unchanged, sparse and dense.
Result<EncodedFrame> EncodeDelta(FrameHeader h, std::span<const std::byte> base,
                                 std::span<const std::byte> target, int level) {
  const DTypeInfo& info = Info(h.dtype);
  if (target.size() % info.width != 0)
    return InvalidArgument("frame of " + std::to_string(target.size()) +
                           " bytes is not a whole number of " + info.name + " elements");
  h.base_len = base.size();
  h.base_hash = HashBytes(base);
  const uint64_t n = target.size() / info.width;
  h.changed = CountChangedElements(base, target, info.width);
  if (h.changed == 0) {
    FrameBuilder f{h};
    f.header.mode = FrameMode::kUnchanged;
    return std::move(f).Finish();
  }
  // Below 15 % changed the range-coded form always wins and is far faster;
  // above 60 % positions cost more than they save. In between, try both.
  if (h.changed * 20 < n * 3) return EncodeSparsest(h, base, target);
  if (h.changed * 5 > n * 3) return EncodeDense(h, base, target, level);
  EncodedFrame sparse = EncodeSparsest(h, base, target);
  DS_ASSIGN_OR_RETURN(EncodedFrame dense, EncodeDense(h, base, target, level));
  return dense.bytes.size() < sparse.bytes.size() ? std::move(dense) : std::move(sparse);
}

Status CheckSizes(const FrameHeader& h) {
  const DTypeInfo& info = Info(h.dtype);
  const bool whole = h.raw_len % info.width == 0;
  const uint64_t elems = h.raw_len / info.width;
  switch (h.mode) {
    case FrameMode::kUnchanged:
      if (h.payload_len != 0 || h.base_len != h.raw_len || h.changed != 0 ||
          h.base_hash != h.target_hash)
        return Corruption("unchanged frame with a payload or differing sizes");
      return Status::Ok();
    case FrameMode::kSparse:
    case FrameMode::kClassSparse:
    case FrameMode::kDense:
    case FrameMode::kClassDense:
      if (h.base_len != h.raw_len || !whole || h.changed > elems)
        return Corruption(std::string(FrameModeName(h.mode)) + " frame has inconsistent sizes");
      return Status::Ok();
    case FrameMode::kFull:
      if (h.base_len != 0 || h.base_hash != Hash128{} || h.changed != elems)
        return Corruption("full frame has a base or an inconsistent element count");
      return Status::Ok();
    case FrameMode::kPatch:
      if (h.changed != h.raw_len) return Corruption("patch frame has an inconsistent count");
      return Status::Ok();
  }
  return Corruption("unknown frame mode");
}

}  // namespace

const char* FrameModeName(FrameMode m) {
  switch (m) {
    case FrameMode::kUnchanged: return "unchanged";
    case FrameMode::kSparse: return "sparse";
    case FrameMode::kClassSparse: return "class-sparse";
    case FrameMode::kClassDense: return "class-dense";
    case FrameMode::kDense: return "dense";
    case FrameMode::kFull: return "full";
    case FrameMode::kPatch: return "patch";
  }
  return "unknown";
}

Result<EncodedFrame> EncodeFrame(DType dtype, std::span<const std::byte> base,
                                 std::span<const std::byte> target, const FrameEncodeOptions& opts) {
  if (!DTypeFromCode(static_cast<uint8_t>(dtype)))
    return InvalidArgument("unknown dtype code " + std::to_string(static_cast<int>(dtype)));
  FrameHeader h;
  h.dtype = dtype;
  h.raw_len = target.size();
  h.target_hash = HashBytes(target);
  if (base.empty()) {
    const DTypeInfo& info = Info(dtype);
    std::vector<std::byte> planes(target.size());
    SplitPlanes(target, info.width, planes);
    FrameBuilder f{h};
    f.header.mode = FrameMode::kFull;
    f.header.changed = target.size() / info.width;
    DS_RETURN_IF_ERROR(ZstdCompress(planes, opts.zstd_level, &f.bytes));
    return std::move(f).Finish();
  }
  if (base.size() == target.size()) return EncodeDelta(h, base, target, opts.zstd_level);
  FrameBuilder f{h};
  f.header.mode = FrameMode::kPatch;
  f.header.base_len = base.size();
  f.header.base_hash = HashBytes(base);
  f.header.changed = target.size();
  DS_RETURN_IF_ERROR(ZstdCompressWithPrefix(target, base, opts.zstd_level, &f.bytes));
  return std::move(f).Finish();
}

Result<FrameHeader> ParseFrameHeader(std::span<const std::byte> stored) {
  if (stored.size() < kFrameHeaderSize)
    return Corruption("frame of " + std::to_string(stored.size()) + " bytes is shorter than its " +
                      std::to_string(kFrameHeaderSize) + "-byte header");
  ByteReader r(stored.first(kFrameHeaderSize));
  uint8_t magic[4];
  r.Bytes(magic);
  if (std::memcmp(magic, kMagic, 4) != 0) return Corruption("not a frame (bad magic)");
  FrameHeader h;
  h.version = r.U8();
  if (h.version != 1 && h.version != kFrameVersion)
    return Unsupported("frame version " + std::to_string(h.version) + " not supported");
  const uint8_t mode = r.U8(), dtype = r.U8(), reserved = r.U8();
  if (mode > kMaxFrameMode || (h.version == 1 && mode > static_cast<uint8_t>(FrameMode::kPatch)))
    return Corruption("unknown frame mode " + std::to_string(mode) + " in a version " +
                      std::to_string(h.version) + " frame");
  h.mode = static_cast<FrameMode>(mode);
  auto dt = DTypeFromCode(dtype);
  if (!dt) return Corruption("unknown dtype code " + std::to_string(dtype) + " in frame");
  h.dtype = *dt;
  h.raw_len = r.U64();
  h.base_len = r.U64();
  h.payload_len = r.U64();
  h.changed = r.U64();
  r.Bytes(h.base_hash.bytes);
  r.Bytes(h.target_hash.bytes);
  const uint64_t reserved_tail = r.U64();
  if (reserved != 0 || reserved_tail != 0) return Corruption("frame header reserved bytes are set");
  if (h.payload_len != stored.size() - kFrameHeaderSize)
    return Corruption("frame payload is " + std::to_string(stored.size() - kFrameHeaderSize) +
                      " bytes, the header says " + std::to_string(h.payload_len));
  DS_RETURN_IF_ERROR(CheckSizes(h));
  return h;
}

Status DecodeFrame(std::span<const std::byte> stored, std::span<const std::byte> base,
                   std::span<std::byte> out) {
  DS_ASSIGN_OR_RETURN(FrameHeader h, ParseFrameHeader(stored));
  if (out.size() != h.raw_len)
    return InvalidArgument("output buffer is " + std::to_string(out.size()) +
                           " bytes, the frame produces " + std::to_string(h.raw_len));
  if (base.size() != h.base_len)
    return Mismatch("frame expects a base of " + std::to_string(h.base_len) + " bytes, got " +
                    std::to_string(base.size()));
  if (h.mode != FrameMode::kFull && HashBytes(base) != h.base_hash)
    return Mismatch("frame expects a different base (hash mismatch)");
  const auto payload = stored.subspan(kFrameHeaderSize);
  const DTypeInfo& info = Info(h.dtype);
  switch (h.mode) {
    case FrameMode::kUnchanged:
      // memmove: decoding in place (out == base) is harmless.
      if (!out.empty()) std::memmove(out.data(), base.data(), out.size());
      break;
    case FrameMode::kSparse:
      DS_RETURN_IF_ERROR(DecodeSparse(h.dtype, payload, base, h.changed, out));
      break;
    case FrameMode::kClassSparse:
      DS_RETURN_IF_ERROR(DecodeClassSparse(h.dtype, payload, base, h.changed, out));
      break;
    case FrameMode::kClassDense:
      DS_RETURN_IF_ERROR(DecodeClassDense(h.dtype, payload, base, h.changed, out));
      break;
    case FrameMode::kDense: {
      std::vector<std::byte> planes(out.size());
      DS_RETURN_IF_ERROR(ZstdDecompress(payload, planes).Prefixed("dense frame"));
      if (JoinDeltaPlanes(base, planes, info.width, info.is_float, out) != h.changed)
        return Corruption("dense frame: changed count differs from the header");
      break;
    }
    case FrameMode::kFull: {
      std::vector<std::byte> planes(out.size());
      DS_RETURN_IF_ERROR(ZstdDecompress(payload, planes).Prefixed("full frame"));
      JoinPlanes(planes, info.width, out);
      break;
    }
    case FrameMode::kPatch:
      DS_RETURN_IF_ERROR(ZstdDecompressWithPrefix(payload, base, out).Prefixed("patch frame"));
      break;
  }
  if (HashBytes(out) != h.target_hash) return Corruption("frame output hash mismatch");
  return Status::Ok();
}

}  // namespace deltaswarm
