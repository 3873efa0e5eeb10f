// The one wrapper around libzstd. Compression appends to a caller's buffer;
// decompression writes exactly out.size() bytes or fails, so a hostile payload
// can neither overrun the output nor claim an unbounded size.
// Thread-safe: every call uses its own context.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "deltaswarm/status.h"

namespace deltaswarm {

// Largest window (and so base + target span for prefix coding) the decoder
// accepts: 2^27 bytes = 128 MiB; callers keep patch ranges <= 64 MiB.
constexpr int kZstdMaxWindowLog = 27;

// Appends one zstd frame of in, at the given level, to out.
Status ZstdCompress(std::span<const std::byte> in, int level, std::vector<std::byte>* out);
// Decompresses in into exactly out.size() bytes; anything else is kCorruption.
Status ZstdDecompress(std::span<const std::byte> in, std::span<std::byte> out);

// As above, with prefix as a raw-content dictionary (ZSTD_CCtx_refPrefix):
// matches may reach back into prefix, so a small edit of prefix costs little.
Status ZstdCompressWithPrefix(std::span<const std::byte> in, std::span<const std::byte> prefix,
                              int level, std::vector<std::byte>* out);
Status ZstdDecompressWithPrefix(std::span<const std::byte> in, std::span<const std::byte> prefix,
                                std::span<std::byte> out);

}  // namespace deltaswarm
