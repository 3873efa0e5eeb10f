// The symbols both sparse coders send through the range coder (range_coder.h):
// gaps (non-negative run lengths) and ordinal differences d >= 1, each with
// adaptive models the caller picks by context. Never change how a symbol is
// coded: stored frames depend on it bit for bit.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

#include "codec/range_coder.h"
#include "deltaswarm/dtype.h"

namespace deltaswarm {

// gap: v = gap + 1 >= 1 is sent as n = bit_width(v) (1..64): n - 1 through a
// 4-bit tree (15 = escape: n - 16 through a 6-bit tree, whose values 49..63
// no gap uses); then the kTopBits bits below v's leading one through a tree
// per n (they carry the shape of the gap distribution inside
// [2^(n-1), 2^n)); the rest as direct bits, which are close to uniform.
constexpr int kGapLenEscape = 15;  // gaps of 2^15 - 1 or more are rare

struct GapLengthModel {
  Prob len[16];  // n - 1 when < 15, else 15 and GapShapeModel::len_big
};

template <int kTopBits>
struct GapShapeModel {
  Prob len_big[64];               // n - 16 (or a coder's own values above 48)
  Prob top[65][1 << kTopBits];    // [n]: a tree over the bits below the leading one
};

// Returns n = bit_width(gap + 1).
template <int kTopBits>
[[gnu::always_inline]] inline int EncodeGap(RangeEncoder& rc, GapLengthModel& lm, GapShapeModel<kTopBits>& sm,
                                            uint64_t gap) {
  const uint64_t v = gap + 1;
  const int n = std::bit_width(v);
  if (n < kGapLenEscape + 1) {
    rc.EncodeTree(lm.len, 4, n - 1);
  } else {
    rc.EncodeTree(lm.len, 4, kGapLenEscape);
    rc.EncodeTree(sm.len_big, 6, n - (kGapLenEscape + 1));
  }
  const int modeled = std::min(kTopBits, n - 1);
  uint32_t m = 1;
  for (int b = 1; b <= modeled; ++b) {
    const unsigned bit = (v >> (n - 1 - b)) & 1;
    rc.EncodeBit(&sm.top[n][m], bit);
    m = 2 * m + bit;
  }
  rc.EncodeDirect(v, n - 1 - modeled);
  return n;
}

// The escape code "big length" followed by len_big value big_code (> 48):
// what a coder sends for an event that is no gap at all.
template <int kTopBits>
inline void EncodeGapEscape(RangeEncoder& rc, GapLengthModel& lm, GapShapeModel<kTopBits>& sm,
                            uint32_t big_code) {
  rc.EncodeTree(lm.len, 4, kGapLenEscape);
  rc.EncodeTree(sm.len_big, 6, big_code);
}

// Decodes n = bit_width(gap + 1), 1..79 (above 64 only for escapes and
// malformed streams); the caller then reads the rest with DecodeGapBits.
template <int kTopBits>
[[gnu::always_inline]] inline int DecodeGapLength(RangeDecoder& rc, GapLengthModel& lm,
                                                  GapShapeModel<kTopBits>& sm) {
  int n = static_cast<int>(rc.DecodeTree(lm.len, 4)) + 1;
  if (n == kGapLenEscape + 1) n += static_cast<int>(rc.DecodeTree(sm.len_big, 6));
  return n;
}

// The gap of length n (1..64). Any value is possible from a malformed
// stream; the caller bounds it.
template <int kTopBits>
[[gnu::always_inline]] inline uint64_t DecodeGapBits(RangeDecoder& rc, GapShapeModel<kTopBits>& sm, int n) {
  const int modeled = std::min(kTopBits, n - 1);
  uint32_t m = 1;
  for (int b = 1; b <= modeled; ++b) m = 2 * m + rc.DecodeBit(&sm.top[n][m]);
  // m holds the leading one and the modeled bits; n - 1 - modeled <= 63 bits below.
  const int rest = n - 1 - modeled;
  const uint64_t v = (uint64_t{m} << rest) | rc.DecodeDirect(rest);
  return v - 1;
}

// d: e = d - 1 through a 4-bit tree (15 = escape: then v = e - 14 as its
// bit length in a 6-bit tree and the bits below the leading one direct).
constexpr uint32_t kDiffEscape = 15;

struct DiffModel {
  Prob sym[16];
  Prob len[64];
};

[[gnu::always_inline]] inline void EncodeDiff(RangeEncoder& rc, DiffModel& m, uint64_t d) {
  const uint64_t e = d - 1;
  if (e < kDiffEscape) {
    rc.EncodeTree(m.sym, 4, static_cast<uint32_t>(e));
    return;
  }
  rc.EncodeTree(m.sym, 4, kDiffEscape);
  const uint64_t v = e - (kDiffEscape - 1);
  const int n = std::bit_width(v);
  rc.EncodeTree(m.len, 6, n - 1);
  rc.EncodeDirect(v, n - 1);
}

// Returns d, or 0 when the stream encodes a value that no element can hold
// (mask: all ones in the element's width).
[[gnu::always_inline]] inline uint64_t DecodeDiff(RangeDecoder& rc, DiffModel& m, uint64_t mask) {
  const uint32_t sym = rc.DecodeTree(m.sym, 4);
  if (sym < kDiffEscape) return sym + 1;
  const int n = static_cast<int>(rc.DecodeTree(m.len, 6)) + 1;
  const uint64_t v = (uint64_t{1} << (n - 1)) | rc.DecodeDirect(n - 1);
  // e = v + 14 must stay <= mask - 1, i.e. d <= mask.
  if (v > mask - kDiffEscape) return 0;
  return v + kDiffEscape;
}

// The exponent field of an element, folded to at most 8 bits (F64 keeps the
// top 8 of its 11); 0 for integer dtypes. The decoder knows the old element,
// so its exponent is free context: small weights move by many ulps where
// large ones move by one, and they change far more often.
constexpr int kExponentClasses = 256;

struct ExponentClass {
  explicit ExponentClass(const DTypeInfo& info)
      : shift(info.is_float ? info.exp_shift + std::max(0, info.exp_bits - 8) : 0),
        mask(info.is_float ? (1u << std::min<int>(info.exp_bits, 8)) - 1 : 0) {}
  int operator()(uint64_t bits) const { return static_cast<int>((bits >> shift) & mask); }
  int shift;
  uint32_t mask;
};

}  // namespace deltaswarm
