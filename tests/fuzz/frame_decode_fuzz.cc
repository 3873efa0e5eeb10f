// libFuzzer target for frame decoding. Input: u16 little-endian base length,
// the base bytes, then a stored frame. The frame's base hash is replaced by the
// hash of the given base so that the payload decoders are reached, not only
// the hash check. Whatever the bytes, DecodeFrame must return, not crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "codec/frame_codec.h"

using namespace deltaswarm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t base_len = std::min<size_t>(data[0] | (data[1] << 8), size - 2);
  std::span<const std::byte> base(reinterpret_cast<const std::byte*>(data + 2), base_len);
  std::vector<std::byte> frame(reinterpret_cast<const std::byte*>(data + 2 + base_len),
                               reinterpret_cast<const std::byte*>(data + size));
  auto header = ParseFrameHeader(frame);
  if (!header.ok()) return 0;
  // Keep allocations small; larger frames are still parsed above.
  if (header->raw_len > (16u << 20)) return 0;
  if (header->mode != FrameMode::kFull && header->mode != FrameMode::kUnchanged) {
    const Hash128 h = HashBytes(base);
    std::memcpy(frame.data() + 40, h.bytes.data(), h.bytes.size());
  }
  std::vector<std::byte> out(header->raw_len);
  Status s = DecodeFrame(frame, base, out);
  // A success must reproduce the recorded target.
  if (s.ok() && HashBytes(out) != header->target_hash) __builtin_trap();
  return 0;
}
