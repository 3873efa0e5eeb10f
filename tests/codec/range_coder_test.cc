#include "codec/range_coder.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

namespace deltaswarm {
namespace {

std::vector<unsigned> RandomBits(size_t n, double p_one, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution coin(p_one);
  std::vector<unsigned> bits(n);
  for (auto& b : bits) b = coin(rng);
  return bits;
}

std::vector<std::byte> EncodeBits(const std::vector<unsigned>& bits) {
  std::vector<std::byte> out;
  RangeEncoder enc(&out);
  Prob p;
  for (unsigned b : bits) enc.EncodeBit(&p, b);
  enc.Finish();
  return out;
}

double Entropy(double p) { return p <= 0 || p >= 1 ? 0 : -p * std::log2(p) - (1 - p) * std::log2(1 - p); }

TEST_CASE("skewed and uniform bits round trip close to their entropy") {
  for (double p : {0.0, 0.001, 0.02, 0.2, 0.5, 0.9, 1.0}) {
    CAPTURE(p);
    const size_t n = 200000;
    auto bits = RandomBits(n, p, 42);
    auto coded = EncodeBits(bits);
    RangeDecoder dec(coded);
    Prob q;
    bool same = true;
    for (unsigned b : bits) same &= dec.DecodeBit(&q) == b;
    CHECK(same);
    CHECK(dec.ok());
    CHECK(dec.AtEnd());
    // Adaptive probabilities cost a little over the entropy; the slowest
    // rate floors the cost of a certain bit at about 0.02 bits.
    const double bound = n * Entropy(p) / 8 + n * 0.025 / 8 + 16;
    CHECK(coded.size() <= bound * 1.03);
  }
}

TEST_CASE("direct bits, trees and mixed symbols round trip") {
  std::mt19937_64 rng(5);
  struct Sym {
    int kind, nbits;
    uint64_t value;
  };
  std::vector<Sym> syms;
  for (int i = 0; i < 50000; ++i) {
    int kind = static_cast<int>(rng() % 3);
    int nbits = kind == 0 ? 1 + static_cast<int>(rng() % 64) : 1 + static_cast<int>(rng() % 8);
    uint64_t v = rng();
    if (nbits < 64) v &= (uint64_t{1} << nbits) - 1;
    if (kind == 2) v = (rng() % 4 == 0) ? v : 0;  // skewed tree symbols
    syms.push_back({kind, nbits, v});
  }
  std::vector<std::byte> out;
  std::vector<Prob> enc_probs(256 * 9), dec_probs(256 * 9);
  RangeEncoder enc(&out);
  for (const Sym& s : syms) {
    if (s.kind == 0) enc.EncodeDirect(s.value, s.nbits);
    else enc.EncodeTree(&enc_probs[256 * s.nbits], s.nbits, static_cast<uint32_t>(s.value));
  }
  enc.Finish();
  RangeDecoder dec(out);
  bool same = true;
  for (const Sym& s : syms) {
    uint64_t v = s.kind == 0 ? dec.DecodeDirect(s.nbits) : dec.DecodeTree(&dec_probs[256 * s.nbits], s.nbits);
    same &= v == s.value;
  }
  CHECK(same);
  CHECK(dec.AtEnd());
}

TEST_CASE("carries propagate through runs of 0xFF") {
  // Long runs of probable ones push low upward and produce 0xFF runs.
  std::vector<unsigned> bits;
  for (int r = 0; r < 2000; ++r) {
    for (int i = 0; i < 300; ++i) bits.push_back(1);
    bits.push_back(0);
  }
  auto coded = EncodeBits(bits);
  RangeDecoder dec(coded);
  Prob q;
  bool same = true;
  for (unsigned b : bits) same &= dec.DecodeBit(&q) == b;
  CHECK(same);
  CHECK(dec.AtEnd());
}

TEST_CASE("the decoder flags truncated, empty and altered input") {
  auto bits = RandomBits(10000, 0.3, 9);
  auto coded = EncodeBits(bits);
  {
    RangeDecoder dec(std::span<const std::byte>(coded).first(coded.size() / 2));
    Prob q;
    for (size_t i = 0; i < bits.size(); ++i) dec.DecodeBit(&q);
    CHECK_FALSE(dec.ok());
  }
  {
    RangeDecoder dec(std::span<const std::byte>{});
    Prob q;
    for (int i = 0; i < 100; ++i) dec.DecodeBit(&q);
    CHECK(dec.DecodeDirect(64) == 0);
    CHECK_FALSE(dec.ok());
  }
  {
    auto bad = coded;
    bad[0] = std::byte{1};  // the first byte is always zero
    RangeDecoder dec(bad);
    CHECK_FALSE(dec.ok());
  }
  // Changing any of the last bytes decodes the same bits but not to the end.
  for (size_t k = 1; k <= 4; ++k) {
    auto bad = coded;
    bad[bad.size() - k] ^= std::byte{0x01};
    RangeDecoder dec(bad);
    Prob q;
    bool same = true;
    for (unsigned b : bits) same &= dec.DecodeBit(&q) == b;
    CHECK_FALSE((same && dec.AtEnd()));
  }
  // Garbage decodes to something without faulting.
  std::mt19937_64 rng(3);
  std::vector<std::byte> garbage(1000);
  for (auto& b : garbage) b = static_cast<std::byte>(rng());
  garbage[0] = std::byte{0};
  RangeDecoder dec(garbage);
  std::vector<Prob> probs(64);
  for (int i = 0; i < 5000; ++i) dec.DecodeTree(probs.data(), 6), dec.DecodeDirect(13);
  CHECK_FALSE(dec.ok());
}

}  // namespace
}  // namespace deltaswarm
