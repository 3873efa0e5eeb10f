#include "codec/sparse_coder.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <string>

#include "codec/change_scan.h"
#include "codec/element_io.h"
#include "codec/ordinal.h"
#include "codec/range_coder.h"
#include "codec/sparse_symbols.h"
#include "core/bytes.h"

namespace deltaswarm {
namespace {

// ---- The model -------------------------------------------------------------
//
// Gaps and differences are coded as in sparse_symbols.h. A gap's length tree
// is chosen by the previous gap's length, so runs of nearby changes teach the
// model; a difference's models by the old element's exponent.
constexpr int kGapContexts = 8;

struct SparseModel {
  GapLengthModel gap_len[kGapContexts];
  GapShapeModel<2> gap_shape;
  DiffModel diff[kExponentClasses];
};

// Buckets of the previous gap's bit length: 0 (none yet), 1, 2, 3, 4-5,
// 6-8, 9-12, 13+. Short gaps after short gaps are where clusters show.
inline int GapContext(int prev_n) {
  static constexpr uint8_t kBucket[17] = {0, 1, 2, 3, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7};
  return kBucket[std::min(prev_n, 16)];
}

// ---- Encoding ----------------------------------------------------------------

template <int W, bool F>
void EncodeT(const DTypeInfo& info, const std::byte* base, const std::byte* target, size_t bytes,
             std::vector<std::byte>* out) {
  auto model = std::make_unique<SparseModel>();
  const ExponentClass exponent(info);
  RangeEncoder rc(out);
  uint64_t next = 0;  // first element the next gap counts from
  int prev_n = 0;
  ForEachChanged<W>(base, target, bytes, [&](uint64_t i) {
    prev_n = EncodeGap(rc, model->gap_len[GapContext(prev_n)], model->gap_shape, i - next);
    next = i + 1;
    const uint64_t old_bits = Load<W>(base + i * W);
    EncodeDiff(rc, model->diff[exponent(old_bits)], OrdinalDelta(old_bits, Load<W>(target + i * W), W, F));
  });
  rc.Finish();
}

// ---- Decoding ----------------------------------------------------------------

// The decoder lives here, not in the caller, so that its state stays in
// registers across the inlined symbol decoders.
template <int W, bool F>
Status DecodeT(const DTypeInfo& info, std::span<const std::byte> stream, uint64_t count,
               const std::byte* base, size_t bytes, std::byte* out) {
  RangeDecoder rc(stream);
  auto model = std::make_unique<SparseModel>();
  const ExponentClass exponent(info);
  const uint64_t n_elems = bytes / W;
  uint64_t next = 0;
  int prev_n = 0;
  for (uint64_t k = 0; k < count; ++k) {
    // Lengths past 64 come only from a malformed stream; the gap check rejects them.
    const int n = std::min(DecodeGapLength(rc, model->gap_len[GapContext(prev_n)], model->gap_shape), 64);
    prev_n = n;
    const uint64_t gap = DecodeGapBits(rc, model->gap_shape, n);
    if (gap >= n_elems - next || !rc.ok())
      return Corruption("sparse payload: change " + std::to_string(k) + " lies outside the frame");
    const uint64_t i = next + gap;
    next = i + 1;
    const uint64_t old_bits = Load<W>(base + i * W);
    const uint64_t d = DecodeDiff(rc, model->diff[exponent(old_bits)], WidthMask(W));
    if (d == 0) return Corruption("sparse payload: difference out of range");
    Store<W>(out + i * W, ApplyOrdinalDelta(old_bits, d, W, F));
  }
  if (!rc.ok()) return Corruption("sparse payload is truncated");
  if (!rc.AtEnd()) return Corruption("sparse payload has trailing bytes");
  return Status::Ok();
}

}  // namespace

uint64_t CountChangedElements(std::span<const std::byte> base, std::span<const std::byte> target,
                              int width) {
  const size_t bytes = std::min(base.size(), target.size());
  switch (width) {
    case 1: return CountChanged<1>(base.data(), target.data(), bytes);
    case 2: return CountChanged<2>(base.data(), target.data(), bytes);
    case 4: return CountChanged<4>(base.data(), target.data(), bytes);
    default: return CountChanged<8>(base.data(), target.data(), bytes);
  }
}

void EncodeSparse(DType dtype, std::span<const std::byte> base, std::span<const std::byte> target,
                  uint64_t changed, std::vector<std::byte>* out) {
  const DTypeInfo& info = Info(dtype);
  ByteWriter header;
  header.Varint(changed);
  out->insert(out->end(), header.data().begin(), header.data().end());
  const auto* b = base.data();
  const auto* t = target.data();
  const size_t n = target.size();
  switch (info.width * 2 + info.is_float) {
    case 2: EncodeT<1, false>(info, b, t, n, out); break;
    case 3: EncodeT<1, true>(info, b, t, n, out); break;
    case 4: EncodeT<2, false>(info, b, t, n, out); break;
    case 5: EncodeT<2, true>(info, b, t, n, out); break;
    case 8: EncodeT<4, false>(info, b, t, n, out); break;
    case 9: EncodeT<4, true>(info, b, t, n, out); break;
    case 16: EncodeT<8, false>(info, b, t, n, out); break;
    default: EncodeT<8, true>(info, b, t, n, out); break;
  }
}

Status DecodeSparse(DType dtype, std::span<const std::byte> payload, std::span<const std::byte> base,
                    uint64_t expected_changed, std::span<std::byte> out) {
  const DTypeInfo& info = Info(dtype);
  if (base.size() != out.size() || out.size() % info.width != 0)
    return Corruption("sparse frame: size is not a whole number of elements");
  ByteReader reader(payload);
  const uint64_t count = reader.Varint();
  if (!reader.ok()) return Corruption("sparse payload: bad change count");
  if (count != expected_changed)
    return Corruption("sparse payload holds " + std::to_string(count) +
                      " changes, the header says " + std::to_string(expected_changed));
  if (count > out.size() / info.width)
    return Corruption("sparse payload: more changes than elements");
  if (!out.empty()) std::memmove(out.data(), base.data(), out.size());
  const auto rc = payload.subspan(reader.position());
  const auto* b = base.data();
  auto* o = out.data();
  const size_t n = out.size();
  switch (info.width * 2 + info.is_float) {
    case 2: return DecodeT<1, false>(info, rc, count, b, n, o);
    case 3: return DecodeT<1, true>(info, rc, count, b, n, o);
    case 4: return DecodeT<2, false>(info, rc, count, b, n, o);
    case 5: return DecodeT<2, true>(info, rc, count, b, n, o);
    case 8: return DecodeT<4, false>(info, rc, count, b, n, o);
    case 9: return DecodeT<4, true>(info, rc, count, b, n, o);
    case 16: return DecodeT<8, false>(info, rc, count, b, n, o);
    default: return DecodeT<8, true>(info, rc, count, b, n, o);
  }
}

}  // namespace deltaswarm
