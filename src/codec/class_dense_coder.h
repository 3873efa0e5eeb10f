// Class-dense frames: the ordinal differences of every element, range-coded
// with the base element's exponent as context. Made for fp32 master weights,
// where every element moves each step by about lr / ulp(w) ulps: the exponent
// of w nearly fixes the size of d, which byte planes + zstd cannot see.
//
// Payload: one range-coded stream; for each element in order, d =
// zigzag(ord(new) - ord(old)) (d = 0: unchanged) as its bit length n (0..64)
// through a 7-bit tree per class, then, below the leading one, up to kTopBits
// bits through a tree per (class, n) and the rest direct.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "deltaswarm/dtype.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

// Appends the payload to *out; returns the number of elements that differ.
uint64_t EncodeClassDense(DType dtype, std::span<const std::byte> base, std::span<const std::byte> target,
                          std::vector<std::byte>* out);

// Writes base patched by payload into out (same size as base; may be base).
// Any malformed payload, or one whose count of changed elements differs from
// expected_changed, is kCorruption.
Status DecodeClassDense(DType dtype, std::span<const std::byte> payload, std::span<const std::byte> base,
                        uint64_t expected_changed, std::span<std::byte> out);

}  // namespace deltaswarm
