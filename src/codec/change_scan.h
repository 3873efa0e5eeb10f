// Finding the elements that differ between two ranges, a word at a time:
// most of a sparse frame is unchanged, so whole 32-byte steps are skipped.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "codec/element_io.h"

namespace deltaswarm {

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

// Calls fn(element_index) for each element that differs, in increasing order.
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

// The number of W-byte elements that differ.
template <int W>
uint64_t CountChanged(const std::byte* a, const std::byte* b, size_t bytes) {
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

}  // namespace deltaswarm
