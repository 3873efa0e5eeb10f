// Class-sparse frames: the changed elements coded from what the decoder
// already knows, the base. Each base element falls in a class, its exponent
// field (sparse_symbols.h: ExponentClass); in AdamW small weights change far
// more often than large ones, so the positions are coded per class, as gaps
// counted in elements of that class, and the differences with the class as
// context. This reaches the exponent-context bound that the plain sparse
// coder (sparse_coder.h) misses by about 1.4x on real and synthetic pairs.
//
// Payload: varint K, then one range-coded stream of the events a decoder
// meets scanning the base in order, up to the K-th change:
//   - the first element of class c: the number of class-c elements before
//     its first change, or "never";
//   - a changed element of class c: its difference d (as in sparse_coder.h,
//     context c), then, unless it is the K-th change, the number of class-c
//     elements before the class's next change, or "never".
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "deltaswarm/dtype.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

// Appends the payload to *out. changed must be CountChangedElements(...).
void EncodeClassSparse(DType dtype, std::span<const std::byte> base, std::span<const std::byte> target,
                       uint64_t changed, std::vector<std::byte>* out);

// Writes base patched by payload into out (same size as base). Any malformed
// payload, or one whose K differs from expected_changed, is kCorruption.
Status DecodeClassSparse(DType dtype, std::span<const std::byte> payload, std::span<const std::byte> base,
                         uint64_t expected_changed, std::span<std::byte> out);

}  // namespace deltaswarm
