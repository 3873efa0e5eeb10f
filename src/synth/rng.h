// Counter-based random numbers for the synthetic generator: every value is a
// pure function of (seed, stream, element index), so output bytes do not
// depend on block size, thread count or the order blocks run in.
#pragma once

#include <cstdint>

namespace deltaswarm::synth {

// The splitmix64 finaliser: a bijective 64-bit mixer with good avalanche.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// Key of one random stream, e.g. (seed, tensor 12, "gradient noise of v3").
inline uint64_t StreamKey(uint64_t seed, uint64_t tensor, uint64_t stream) {
  uint64_t k = Mix64(seed + 0x9e3779b97f4a7c15ull);
  k = Mix64(k ^ (tensor * 0xd1b54a32d192ed03ull));
  return Mix64(k ^ (stream * 0x8cb92ba72f3d8dd7ull + 1));
}

// Approximately standard normal from one 64-bit hash: the Irwin-Hall sum of
// four 16-bit uniforms (variance 1/3, rescaled). Bounded at +-3.46 sigma,
// which is like the truncated-normal init trainers use, and far cheaper than
// Box-Muller (no log, no trig); the generator needs several per element.
inline float NormalFromBits(uint64_t h) {
  uint32_t s = static_cast<uint32_t>(h & 0xffff) + static_cast<uint32_t>((h >> 16) & 0xffff) +
               static_cast<uint32_t>((h >> 32) & 0xffff) + static_cast<uint32_t>(h >> 48);
  // Mean of s is 4 * 32767.5; its standard deviation 65536 * sqrt(1/3).
  constexpr float kScale = 1.7320508f / 65536.0f;  // sqrt(3) / 65536
  return static_cast<float>(static_cast<int32_t>(s) - 131070) * kScale;
}

// The normal value of element `index` in stream `key`.
// As in splitmix64, the state of element i is key + i * golden ratio.
inline float Normal(uint64_t key, uint64_t index) {
  return NormalFromBits(Mix64(key + index * 0x9e3779b97f4a7c15ull));
}

}  // namespace deltaswarm::synth
