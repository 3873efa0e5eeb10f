// Sparse frames: the positions of the changed elements and their ordinal
// differences, range-coded with adaptive context models. Made for frames in
// which a few percent of the weights moved by a few ulps.
//
// Payload: varint K (changed elements), then one range-coded stream holding,
// for each changed element i in increasing order, gap = i - prev - 1 (prev
// starts at -1) and d = zigzag(ord(new) - ord(old)) >= 1 (ordinal.h).
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "deltaswarm/dtype.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

// Number of width-byte elements that differ between base and target (equal
// sizes, a multiple of width). A word-at-a-time scan: unchanged runs are cheap.
uint64_t CountChangedElements(std::span<const std::byte> base, std::span<const std::byte> target,
                              int width);

// Appends the payload to *out. changed must be CountChangedElements(...).
void EncodeSparse(DType dtype, std::span<const std::byte> base, std::span<const std::byte> target,
                  uint64_t changed, std::vector<std::byte>* out);

// Writes base patched by payload into out (same size as base). Any malformed
// payload, or one whose K differs from expected_changed, is kCorruption.
Status DecodeSparse(DType dtype, std::span<const std::byte> payload, std::span<const std::byte> base,
                    uint64_t expected_changed, std::span<std::byte> out);

}  // namespace deltaswarm
