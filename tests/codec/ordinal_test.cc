#include "codec/ordinal.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace deltaswarm {
namespace {

float Bf16ToFloat(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST_CASE("ordinal order of bf16 bit patterns follows their values") {
  std::vector<uint16_t> patterns;
  for (uint32_t b = 0; b < 0x10000; ++b)
    if (!std::isnan(Bf16ToFloat(static_cast<uint16_t>(b)))) patterns.push_back(static_cast<uint16_t>(b));
  std::sort(patterns.begin(), patterns.end(),
            [](uint16_t a, uint16_t b) { return ToOrdinal(a, 2, true) < ToOrdinal(b, 2, true); });
  for (size_t i = 1; i < patterns.size(); ++i)
    CHECK(Bf16ToFloat(patterns[i - 1]) <= Bf16ToFloat(patterns[i]));
  // -0 and +0 are neighbours; one ulp up from +0 is the smallest subnormal.
  CHECK(ToOrdinal(0x0000, 2, true) == ToOrdinal(0x8000, 2, true) + 1);
  CHECK(ApplyOrdinalDelta(0x0000, ZigZag(1, 2), 2, true) == 0x0001);
  CHECK(ApplyOrdinalDelta(0x0000, ZigZag(WidthMask(2), 2), 2, true) == 0x8000);  // -1 step
}

TEST_CASE("ordinal maps are bijections for every width") {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    CHECK(FromOrdinal(ToOrdinal(b, 2, true), 2, true) == b);
    CHECK(ToOrdinal(b, 2, false) == b);
  }
  for (uint32_t b = 0; b < 0x100; ++b) {
    CHECK(FromOrdinal(ToOrdinal(b, 1, true), 1, true) == b);
    CHECK(ToOrdinal(b, 1, true) <= 0xFF);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; ++i) {
    uint64_t x = rng();
    CHECK(FromOrdinal(ToOrdinal(x, 8, true), 8, true) == x);
    uint64_t y = x & 0xFFFFFFFFu;
    CHECK(FromOrdinal(ToOrdinal(y, 4, true), 4, true) == y);
    CHECK(ToOrdinal(y, 4, true) <= 0xFFFFFFFFu);
  }
}

TEST_CASE("zigzag folds signed differences onto small numbers") {
  for (int w : {1, 2, 4, 8}) {
    const uint64_t mask = WidthMask(w);
    CHECK(ZigZag(0, w) == 0);
    CHECK(ZigZag(mask, w) == 1);      // -1
    CHECK(ZigZag(1, w) == 2);
    CHECK(ZigZag(mask - 1, w) == 3);  // -2
    CHECK(ZigZag(WidthSignBit(w), w) == mask);  // most negative
    CHECK(ZigZag(WidthSignBit(w) - 1, w) == mask - 1);
    for (uint64_t z : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{77}, mask, mask - 1, mask >> 1})
      CHECK(ZigZag(UnZigZag(z, w), w) == (z & mask));
  }
  for (uint32_t v = 0; v < 0x10000; ++v) CHECK(UnZigZag(ZigZag(v, 2), 2) == v);
}

TEST_CASE("ordinal deltas round trip for random pairs, floats and integers") {
  std::mt19937_64 rng(11);
  for (int w : {1, 2, 4, 8}) {
    for (bool is_float : {false, true}) {
      const uint64_t mask = WidthMask(w);
      for (int i = 0; i < 5000; ++i) {
        uint64_t a = rng() & mask, b = rng() & mask;
        uint64_t d = OrdinalDelta(a, b, w, is_float);
        CHECK(d <= mask);
        CHECK((d == 0) == (a == b));
        CHECK(ApplyOrdinalDelta(a, d, w, is_float) == b);
      }
    }
  }
  // A one-ulp move of a float is d = 1 or 2 whatever its sign.
  CHECK(OrdinalDelta(0x3f80, 0x3f81, 2, true) == 2);   // 1.0 -> next up
  CHECK(OrdinalDelta(0xbf80, 0xbf81, 2, true) == 1);   // -1.0 -> next down
  CHECK(OrdinalDelta(0x0000, 0x8000, 2, true) == 1);   // +0 -> -0
}

}  // namespace
}  // namespace deltaswarm
