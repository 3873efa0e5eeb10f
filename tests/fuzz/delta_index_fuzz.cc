// libFuzzer target: the input is an index.dsi (a delta's or keyframe's index,
// fetched from the bucket or the swarm). ParseIndex must return a Status for
// anything. The input is parsed as given, then with its body length and
// trailing XXH3-128 recomputed, so that mutations reach the body reader and
// the structural checks rather than stopping at the checksum (as
// frame_decode_fuzz does with the base hash). What it accepts passed every
// structural check, so what the codec computes from it must not go out of
// bounds (ContentDigests indexes segments and files by the frames' numbers),
// and it serializes to an index that parses again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "deltaswarm/delta_index.h"
#include "deltaswarm/digest.h"

using namespace deltaswarm;

namespace {

// "DSWINDEX" | u32 version | u32 flags | u64 body_len | body | XXH3-128 (delta_index.cc).
constexpr size_t kFixed = 8 + 4 + 4 + 8;
constexpr size_t kCheck = 16;

void Check(std::span<const std::byte> bytes) {
  auto x = ParseIndex(bytes, "fuzz/index.dsi");
  if (!x.ok()) {
    if (x.status().message().find('\n') != std::string::npos) std::abort();
    return;
  }
  if (ContentDigests(*x).size() != x->files.size()) std::abort();
  (void)x->target_bytes();
  (void)x->delta_bytes();
  const std::vector<std::byte> again = SerializeIndex(*x);
  auto y = ParseIndex(again, "fuzz/again.dsi");
  if (!y.ok() || SerializeIndex(*y) != again) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Check(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
  if (size < kFixed + kCheck) return 0;
  std::vector<std::byte> fixed(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  const uint64_t body_len = size - kFixed - kCheck;
  for (int i = 0; i < 8; ++i) fixed[16 + i] = std::byte(body_len >> (8 * i));
  const Hash128 h = HashBytes(std::span<const std::byte>(fixed).first(size - kCheck));
  std::memcpy(fixed.data() + size - kCheck, h.bytes.data(), kCheck);
  Check(fixed);
  return 0;
}
