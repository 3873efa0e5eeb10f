// Loading and storing W-byte little-endian elements (W = 1, 2, 4, 8) as
// uint64_t; the supported hosts are little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace deltaswarm {

template <int W>
inline uint64_t Load(const std::byte* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, W);
  return v;
}

template <int W>
inline void Store(std::byte* p, uint64_t v) {
  std::memcpy(p, &v, W);
}

}  // namespace deltaswarm
