#include "codec/range_coder.h"

namespace deltaswarm {

// Emits the top byte of low_ once it can no longer change. A run of 0xFF
// bytes may still receive a carry, so it is counted in cache_size_ and written
// only when the next byte decides whether the carry happened.
void RangeEncoder::ShiftLow() {
  if (static_cast<uint32_t>(low_) < 0xFF000000u || (low_ >> 32) != 0) {
    const uint8_t carry = static_cast<uint8_t>(low_ >> 32);
    uint8_t temp = cache_;
    do {
      out_->push_back(static_cast<std::byte>(static_cast<uint8_t>(temp + carry)));
      temp = 0xFF;
    } while (--cache_size_ != 0);
    cache_ = static_cast<uint8_t>(low_ >> 24);
  }
  ++cache_size_;
  low_ = (low_ & 0x00FFFFFFu) << 8;
}

RangeDecoder::RangeDecoder(std::span<const std::byte> in) : in_(in) {
  // The encoder's first byte is its initial cache, always zero.
  if (NextByte() != 0) ok_ = false;
  for (int i = 0; i < 4; ++i) code_ = (code_ << 8) | NextByte();
}

}  // namespace deltaswarm
