#include "codec/sparse_coder.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <string>

#include "codec/element_io.h"
#include "codec/ordinal.h"
#include "codec/range_coder.h"
#include "core/bytes.h"

namespace deltaswarm {
namespace {

// ---- The model -------------------------------------------------------------
//
// gap: v = gap + 1 >= 1 is sent as n = bit_width(v) (1..64): n - 1 through a
// 4-bit tree chosen by the previous gap's n, so runs of nearby changes teach
// the model (15 = escape: n - 16 through a 6-bit tree); then the two bits below v's leading one with contexts per n (they
// carry the shape of the gap distribution inside [2^(n-1), 2^n)); the rest as
// direct bits, which are close to uniform.
//
// d: e = d - 1 through a 4-bit tree (15 = escape: then v = e - 14 as its
// bit length in a 6-bit tree and the bits below the leading one direct),
// chosen by the old element's exponent: the decoder knows the old value, and
// small weights move by many ulps where large ones move by one.
constexpr int kGapContexts = 8;
constexpr int kGapLenEscape = 15;  // gaps of 2^15 - 1 or more are rare
constexpr int kDiffContexts = 256;
constexpr uint32_t kDiffEscape = 15;

struct SparseModel {
  Prob gap_len[kGapContexts][16];  // n - 1 when < 15, else 15 and gap_len_big
  Prob gap_len_big[64];             // n - 16
  Prob gap_top[65][4];  // [n][1]: first bit below the leading one; [n][2 + first]: second
  Prob diff_sym[kDiffContexts][16];
  Prob diff_len[kDiffContexts][64];

};

// Buckets of the previous gap's bit length: 0 (none yet), 1, 2, 3, 4-5,
// 6-8, 9-12, 13+. Short gaps after short gaps are where clusters show.
inline int GapContext(int prev_n) {
  static constexpr uint8_t kBucket[17] = {0, 1, 2, 3, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7};
  return kBucket[std::min(prev_n, 16)];
}

// The exponent field of the old element, folded to at most 8 bits (F64 keeps
// the top 8 of its 11).
struct DiffContexter {
  explicit DiffContexter(const DTypeInfo& info)
      : shift(info.is_float ? info.exp_shift + std::max(0, info.exp_bits - 8) : 0),
        mask(info.is_float ? (1u << std::min<int>(info.exp_bits, 8)) - 1 : 0) {}
  int operator()(uint64_t old_bits) const { return static_cast<int>((old_bits >> shift) & mask); }
  int shift;
  uint32_t mask;
};

// ---- Scanning for changed elements -----------------------------------------


// The top bit of every W-byte lane of a 64-bit word.
template <int W>
constexpr uint64_t LaneHighBits() {
  uint64_t h = 0;
  for (int i = 0; i < 8 / W; ++i) h |= uint64_t{1} << (8 * W * (i + 1) - 1);
  return h;
}

// A word with the top bit of each lane set iff that lane of x is nonzero.
// (x & ~H) + ~H carries into a lane's top bit iff a lower bit of it is set.
template <int W>
inline uint64_t NonzeroLanes(uint64_t x) {
  constexpr uint64_t kH = LaneHighBits<W>();
  return (((x & ~kH) + ~kH) | x) & kH;
}

// Calls fn(element_index) for the nonzero lanes of the XOR word x at byte off.
template <int W, typename Fn>
[[gnu::always_inline]] inline void ForEachChangedLane(size_t off, uint64_t x, Fn& fn) {
  uint64_t lanes = NonzeroLanes<W>(x);
  while (lanes) {
    fn((off + std::countr_zero(lanes) / 8) / W);
    lanes &= lanes - 1;
  }
}

// Calls fn(element_index) for each element that differs, in increasing
// order. Words are compared 8 bytes at a time, 32 bytes per step, since most
// of a sparse frame is unchanged.
template <int W, typename Fn>
inline void ForEachChanged(const std::byte* a, const std::byte* b, size_t bytes, Fn&& fn) {
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    const uint64_t x0 = Load<8>(a + i) ^ Load<8>(b + i);
    const uint64_t x1 = Load<8>(a + i + 8) ^ Load<8>(b + i + 8);
    const uint64_t x2 = Load<8>(a + i + 16) ^ Load<8>(b + i + 16);
    const uint64_t x3 = Load<8>(a + i + 24) ^ Load<8>(b + i + 24);
    if ((x0 | x1 | x2 | x3) == 0) continue;
    if (x0) ForEachChangedLane<W>(i, x0, fn);
    if (x1) ForEachChangedLane<W>(i + 8, x1, fn);
    if (x2) ForEachChangedLane<W>(i + 16, x2, fn);
    if (x3) ForEachChangedLane<W>(i + 24, x3, fn);
  }
  for (; i + W <= bytes; i += W)
    if (Load<W>(a + i) != Load<W>(b + i)) fn(i / W);
}

// The number of set lane-top bits in lanes (from NonzeroLanes): a multiply
// sums them into the top lane (popcount is a libcall without -mpopcnt).
template <int W>
inline uint64_t LaneCount(uint64_t lanes) {
  if constexpr (W == 8) {
    return lanes >> 63;
  } else {
    constexpr int kBits = 8 * W;
    constexpr uint64_t kOnes = LaneHighBits<W>() >> (kBits - 1);
    return ((lanes >> (kBits - 1)) * kOnes) >> (64 - kBits);
  }
}

template <int W>
uint64_t CountT(const std::byte* a, const std::byte* b, size_t bytes) {
  uint64_t count = 0;
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    const uint64_t x0 = Load<8>(a + i) ^ Load<8>(b + i);
    const uint64_t x1 = Load<8>(a + i + 8) ^ Load<8>(b + i + 8);
    const uint64_t x2 = Load<8>(a + i + 16) ^ Load<8>(b + i + 16);
    const uint64_t x3 = Load<8>(a + i + 24) ^ Load<8>(b + i + 24);
    if ((x0 | x1 | x2 | x3) == 0) continue;
    count += LaneCount<W>(NonzeroLanes<W>(x0)) + LaneCount<W>(NonzeroLanes<W>(x1)) +
             LaneCount<W>(NonzeroLanes<W>(x2)) + LaneCount<W>(NonzeroLanes<W>(x3));
  }
  for (; i + W <= bytes; i += W) count += Load<W>(a + i) != Load<W>(b + i);
  return count;
}

// ---- Encoding ----------------------------------------------------------------

[[gnu::always_inline]] inline void EncodeGap(RangeEncoder& rc, SparseModel& m, uint64_t gap, int* prev_n) {
  const uint64_t v = gap + 1;
  const int n = std::bit_width(v);
  if (n < kGapLenEscape + 1) {
    rc.EncodeTree(m.gap_len[GapContext(*prev_n)], 4, n - 1);
  } else {
    rc.EncodeTree(m.gap_len[GapContext(*prev_n)], 4, kGapLenEscape);
    rc.EncodeTree(m.gap_len_big, 6, n - (kGapLenEscape + 1));
  }
  *prev_n = n;
  if (n < 2) return;
  const unsigned b1 = (v >> (n - 2)) & 1;
  rc.EncodeBit(&m.gap_top[n][1], b1);
  if (n < 3) return;
  rc.EncodeBit(&m.gap_top[n][2 + b1], (v >> (n - 3)) & 1);
  rc.EncodeDirect(v, n - 3);
}

[[gnu::always_inline]] inline void EncodeDiff(RangeEncoder& rc, SparseModel& m, int ctx, uint64_t d) {
  const uint64_t e = d - 1;
  if (e < kDiffEscape) {
    rc.EncodeTree(m.diff_sym[ctx], 4, static_cast<uint32_t>(e));
    return;
  }
  rc.EncodeTree(m.diff_sym[ctx], 4, kDiffEscape);
  const uint64_t v = e - (kDiffEscape - 1);
  const int n = std::bit_width(v);
  rc.EncodeTree(m.diff_len[ctx], 6, n - 1);
  rc.EncodeDirect(v, n - 1);
}

template <int W, bool F>
void EncodeT(const DTypeInfo& info, const std::byte* base, const std::byte* target, size_t bytes,
             std::vector<std::byte>* out) {
  auto model = std::make_unique<SparseModel>();
  const DiffContexter contexter(info);
  RangeEncoder rc(out);
  uint64_t next = 0;  // first element the next gap counts from
  int prev_n = 0;
  ForEachChanged<W>(base, target, bytes, [&](uint64_t i) {
    EncodeGap(rc, *model, i - next, &prev_n);
    next = i + 1;
    const uint64_t old_bits = Load<W>(base + i * W);
    EncodeDiff(rc, *model, contexter(old_bits),
               OrdinalDelta(old_bits, Load<W>(target + i * W), W, F));
  });
  rc.Finish();
}

// ---- Decoding ----------------------------------------------------------------

// Any value is possible from a malformed stream; the caller bounds it.
[[gnu::always_inline]] inline uint64_t DecodeGap(RangeDecoder& rc, SparseModel& m, int* prev_n) {
  int n = static_cast<int>(rc.DecodeTree(m.gap_len[GapContext(*prev_n)], 4)) + 1;
  if (n == kGapLenEscape + 1) n += static_cast<int>(rc.DecodeTree(m.gap_len_big, 6));
  if (n > 64) n = 64;  // only a malformed stream; the caller rejects the gap
  *prev_n = n;
  if (n < 2) return 0;
  const unsigned b1 = rc.DecodeBit(&m.gap_top[n][1]);
  uint64_t v = 2 | b1;
  if (n >= 3) {
    v = (v << 1) | rc.DecodeBit(&m.gap_top[n][2 + b1]);
    // n - 3 <= 61 bits below, so v cannot overflow.
    v = (v << (n - 3)) | rc.DecodeDirect(n - 3);
  }
  return v - 1;
}

// Returns d, or 0 when the stream encodes a value that no element can hold.
[[gnu::always_inline]] inline uint64_t DecodeDiff(RangeDecoder& rc, SparseModel& m, int ctx, uint64_t mask) {
  const uint32_t sym = rc.DecodeTree(m.diff_sym[ctx], 4);
  if (sym < kDiffEscape) return sym + 1;
  const int n = static_cast<int>(rc.DecodeTree(m.diff_len[ctx], 6)) + 1;
  const uint64_t v = (uint64_t{1} << (n - 1)) | rc.DecodeDirect(n - 1);
  // e = v + 14 must stay <= mask - 1, i.e. d <= mask.
  if (v > mask - kDiffEscape) return 0;
  return v + kDiffEscape;
}

// The decoder lives here, not in the caller, so that its state stays in
// registers across the inlined symbol decoders.
template <int W, bool F>
Status DecodeT(const DTypeInfo& info, std::span<const std::byte> stream, uint64_t count,
               const std::byte* base, size_t bytes, std::byte* out) {
  RangeDecoder rc(stream);
  auto model = std::make_unique<SparseModel>();
  const DiffContexter contexter(info);
  const uint64_t n_elems = bytes / W;
  uint64_t next = 0;
  int prev_n = 0;
  for (uint64_t k = 0; k < count; ++k) {
    const uint64_t gap = DecodeGap(rc, *model, &prev_n);
    if (gap >= n_elems - next || !rc.ok())
      return Corruption("sparse payload: change " + std::to_string(k) + " lies outside the frame");
    const uint64_t i = next + gap;
    next = i + 1;
    const uint64_t old_bits = Load<W>(base + i * W);
    const uint64_t d = DecodeDiff(rc, *model, contexter(old_bits), WidthMask(W));
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
    case 1: return CountT<1>(base.data(), target.data(), bytes);
    case 2: return CountT<2>(base.data(), target.data(), bytes);
    case 4: return CountT<4>(base.data(), target.data(), bytes);
    default: return CountT<8>(base.data(), target.data(), bytes);
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
