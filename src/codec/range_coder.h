// An adaptive binary range coder in the style of LZMA: a 32-bit range with a
// carry-propagating encoder (cache + cache_size), bit trees for small symbols
// and direct (equiprobable) bits for the rest. Unlike LZMA's 11-bit, shift-5
// probabilities, these have 15 bits and a rate that starts fast and settles
// at 1/64 (see Prob): on sparse-frame data that is 1-2 % smaller, because
// the fixed rate pays both to learn many small contexts and in precision.
//
// The decoder is safe on arbitrary input: reading past the end yields zero
// bytes and sets an error flag that the caller must check (ok()) before
// trusting what it decoded. Not thread-safe; one coder per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace deltaswarm {

constexpr int kProbBits = 15;
constexpr uint32_t kProbOne = 1u << kProbBits;
// Slowest adaptation: a probability moves 1/2^kProbMaxShift of the way per bit.
constexpr int kProbMaxShift = 6;

// An adaptive estimate of P(bit == 0) in units of 2^-kProbBits, with the
// number of bits it has seen. A fresh one learns fast (rate about 1/(n+2),
// like a Krichevsky-Trofimov counter) and settles at 1/2^kProbMaxShift, so
// rarely used contexts cost little to learn and busy ones are precise.
struct Prob {
  uint16_t p = kProbOne / 2;
  uint16_t n = 0;

  // mask: all ones after a 1 bit, zero after a 0.
  void Update(uint32_t mask) {
    const int shift = kShiftForCount[n];
    const uint32_t if0 = p + ((kProbOne - p) >> shift);
    const uint32_t if1 = p - (p >> shift);
    p = static_cast<uint16_t>(if0 ^ ((if0 ^ if1) & mask));
    n += n < kCountLimit;
  }

  static constexpr int kCountLimit = 64;
  // round(log2(n + 2)), capped: the shift nearest to a 1/(n+2) step.
  static constexpr uint8_t kShiftForCount[kCountLimit + 1] = {
      1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5,
      5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
      6, 6, 6, 6, 6, 6, 6};
};

class RangeEncoder {
 public:
  // Appends the coded bytes to *out (which must outlive the encoder).
  explicit RangeEncoder(std::vector<std::byte>* out) : out_(out) {}

  void EncodeBit(Prob* p, unsigned bit) {
    // Branch-free: the bits of a good model are unpredictable to the CPU.
    const uint32_t bound = (range_ >> kProbBits) * p->p;
    const uint32_t mask = 0u - bit;
    low_ += bound & mask;
    range_ = ((range_ - bound) & mask) | (bound & ~mask);
    p->Update(mask);
    while (range_ < kTop) {
      range_ <<= 8;
      ShiftLow();
    }
  }

  // The low nbits (<= 64) of value, most significant first, each with p = 1/2.
  void EncodeDirect(uint64_t value, int nbits) {
    while (nbits > 0) {
      --nbits;
      range_ >>= 1;
      if ((value >> nbits) & 1) low_ += range_;
      while (range_ < kTop) {
        range_ <<= 8;
        ShiftLow();
      }
    }
  }

  // A symbol of nbits bits through a tree of 2^nbits probabilities (probs[1..]).
  [[gnu::always_inline]] void EncodeTree(Prob* probs, int nbits, uint32_t symbol) {
    uint32_t m = 1;
    for (int i = nbits - 1; i >= 0; --i) {
      unsigned bit = (symbol >> i) & 1;
      EncodeBit(&probs[m], bit);
      m = (m << 1) | bit;
    }
  }

  // Flushes the remaining state; the encoder must not be used afterwards.
  void Finish() {
    for (int i = 0; i < 5; ++i) ShiftLow();
  }

 private:
  static constexpr uint32_t kTop = 1u << 24;
  void ShiftLow();

  std::vector<std::byte>* out_;
  uint64_t low_ = 0;  // 33 bits: bit 32 is a pending carry
  uint32_t range_ = 0xFFFFFFFFu;
  uint8_t cache_ = 0;
  uint64_t cache_size_ = 1;
};

class RangeDecoder {
 public:
  explicit RangeDecoder(std::span<const std::byte> in);

  unsigned DecodeBit(Prob* p) {
    const uint32_t bound = (range_ >> kProbBits) * p->p;
    const unsigned bit = code_ >= bound;
    const uint32_t mask = 0u - bit;
    code_ -= bound & mask;
    range_ = ((range_ - bound) & mask) | (bound & ~mask);
    p->Update(mask);
    while (range_ < kTop) {
      range_ <<= 8;
      code_ = (code_ << 8) | NextByte();
    }
    return bit;
  }

  uint64_t DecodeDirect(int nbits) {
    uint64_t v = 0;
    while (nbits-- > 0) {
      range_ >>= 1;
      // t is all ones when code_ < range_ (bit 0), zero otherwise.
      uint32_t t = 0u - static_cast<uint32_t>(code_ < range_);
      code_ -= range_ & ~t;
      v = (v << 1) | (t + 1);
      while (range_ < kTop) {
        range_ <<= 8;
        code_ = (code_ << 8) | NextByte();
      }
    }
    return v;
  }

  [[gnu::always_inline]] uint32_t DecodeTree(Prob* probs, int nbits) {
    uint32_t m = 1;
    for (int i = 0; i < nbits; ++i) m = (m << 1) | DecodeBit(&probs[m]);
    return m - (1u << nbits);
  }

  // False once the input ran out or its first byte was not the zero that
  // every encoder writes; decoded values are then meaningless.
  bool ok() const { return ok_; }
  // True when exactly the encoder's bytes were consumed. The encoder's flush
  // writes all of low, so a faithful stream leaves code == 0; any other
  // bytes (a flipped or appended byte) fail here even if they decoded.
  bool AtEnd() const { return ok_ && pos_ == in_.size() && code_ == 0; }

 private:
  static constexpr uint32_t kTop = 1u << 24;
  uint32_t NextByte() {
    if (pos_ < in_.size()) return static_cast<uint8_t>(in_[pos_++]);
    ok_ = false;
    return 0;
  }

  std::span<const std::byte> in_;
  size_t pos_ = 0;
  uint32_t range_ = 0xFFFFFFFFu;
  uint32_t code_ = 0;
  bool ok_ = true;
};

}  // namespace deltaswarm
