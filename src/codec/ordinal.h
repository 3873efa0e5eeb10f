// Order-preserving integer views of element bit patterns, and the zigzag map,
// for elements of 1, 2, 4 or 8 bytes. All arithmetic is on uint64_t modulo
// 2^(8*width), so the same code serves every dtype; with a constant width the
// compiler folds the masks away.
#pragma once

#include <cstdint>

namespace deltaswarm {

// All ones in the low 8*width bits.
constexpr uint64_t WidthMask(int width) {
  return width >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * width)) - 1;
}
constexpr uint64_t WidthSignBit(int width) { return uint64_t{1} << (8 * width - 1); }

// Sign-magnitude floats become unsigned integers that sort like the values
// (-0 and +0 are neighbours, NaNs land at the ends), so a small change of a
// weight is a small integer difference. Integers and raw bytes map to themselves.
constexpr uint64_t ToOrdinal(uint64_t bits, int width, bool is_float) {
  if (!is_float) return bits;
  return (bits & WidthSignBit(width)) ? bits ^ WidthMask(width) : bits ^ WidthSignBit(width);
}

constexpr uint64_t FromOrdinal(uint64_t ord, int width, bool is_float) {
  if (!is_float) return ord;
  return (ord & WidthSignBit(width)) ? ord ^ WidthSignBit(width) : ord ^ WidthMask(width);
}

// Folds a difference mod 2^(8*width), read as signed, onto 0, 1, 2, ...:
// 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...
constexpr uint64_t ZigZag(uint64_t delta, int width) {
  const uint64_t mask = WidthMask(width);
  delta &= mask;
  const uint64_t flip = (delta & WidthSignBit(width)) ? mask : 0;
  return ((delta << 1) ^ flip) & mask;
}

constexpr uint64_t UnZigZag(uint64_t z, int width) {
  const uint64_t mask = WidthMask(width);
  z &= mask;
  return ((z >> 1) ^ ((z & 1) ? mask : 0)) & mask;
}

// zigzag(ord(new) - ord(old)): zero exactly when the bit patterns are equal.
constexpr uint64_t OrdinalDelta(uint64_t old_bits, uint64_t new_bits, int width, bool is_float) {
  return ZigZag(ToOrdinal(new_bits, width, is_float) - ToOrdinal(old_bits, width, is_float), width);
}

// Inverse of OrdinalDelta: the new bit pattern from the old one and d.
constexpr uint64_t ApplyOrdinalDelta(uint64_t old_bits, uint64_t d, int width, bool is_float) {
  const uint64_t ord = (ToOrdinal(old_bits, width, is_float) + UnZigZag(d, width)) & WidthMask(width);
  return FromOrdinal(ord, width, is_float);
}

}  // namespace deltaswarm
