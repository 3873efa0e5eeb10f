// Byte planes: w-byte elements are stored as w planes, plane b holding byte b
// of every element. The high bytes of weights (sign, exponent) repeat a lot
// and the low bytes are noise; zstd compresses them far better apart.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace deltaswarm {

// Splits in (elements of width 1, 2, 4 or 8 bytes) into planes; out.size()
// must equal in.size(). Trailing bytes that make no whole element are copied
// after the planes unchanged.
void SplitPlanes(std::span<const std::byte> in, int width, std::span<std::byte> out);
// Inverse of SplitPlanes.
void JoinPlanes(std::span<const std::byte> planes, int width, std::span<std::byte> out);

// Writes d = zigzag(ord(target) - ord(base)) of every element (see ordinal.h)
// as byte planes into out. Sizes must be equal multiples of width. Returns the
// number of elements with d != 0.
uint64_t SplitDeltaPlanes(std::span<const std::byte> base, std::span<const std::byte> target,
                          int width, bool is_float, std::span<std::byte> out);
// Inverse: out = base with every element moved by its d from the planes.
// Returns the number of elements with d != 0.
uint64_t JoinDeltaPlanes(std::span<const std::byte> base, std::span<const std::byte> planes,
                         int width, bool is_float, std::span<std::byte> out);

}  // namespace deltaswarm
