// Rounding fp32 masters to the 16-bit formats a mixed-precision trainer saves.
// Both round to nearest, ties to even, like torch's .to(bfloat16/float16).
#pragma once

#include <cstdint>
#include <cstring>

namespace deltaswarm::synth {

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// fp32 -> bf16. NaN stays a (quiet) NaN with its sign; overflow rounds to inf.
inline uint16_t FloatToBf16(float f) {
  uint32_t u = FloatBits(f);
  uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  // Adding the rounding bias to a NaN could carry it into inf; keep it a NaN.
  // A select rather than a branch, so that loops over it vectorise.
  uint32_t nan = (u >> 16) | 0x0040u;
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

inline float Bf16ToFloat(uint16_t h) { return BitsToFloat(static_cast<uint32_t>(h) << 16); }

// fp32 -> IEEE binary16, including subnormals; values >= 65520 become inf.
// After F. Giesen's float_to_half_fast3_rtne.
inline uint16_t FloatToF16(float f) {
  uint32_t u = FloatBits(f);
  uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint16_t out;
  if (u >= 0x47800000u) {  // |f| >= 65536, inf or NaN
    out = u > 0x7f800000u ? 0x7e00 : 0x7c00;
  } else if (u < 0x38800000u) {  // below 2^-14: subnormal or zero
    // Adding 0.5 aligns the 10 result bits at the bottom of the mantissa; the
    // FPU's own round-to-nearest-even does the rounding.
    constexpr uint32_t kMagic = 126u << 23;
    out = static_cast<uint16_t>(FloatBits(BitsToFloat(u) + BitsToFloat(kMagic)) - kMagic);
  } else {
    uint32_t odd = (u >> 13) & 1u;
    u += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu + odd;  // rebias and round
    out = static_cast<uint16_t>(u >> 13);  // a carry into exponent 31 gives inf
  }
  return static_cast<uint16_t>(out | (sign >> 16));
}

}  // namespace deltaswarm::synth
