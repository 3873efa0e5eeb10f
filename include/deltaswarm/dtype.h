// Element types of safetensors tensors and what the codec needs to know of them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace deltaswarm {

// Codes are stored in the delta format; never renumber.
enum class DType : uint8_t {
  kRaw = 0,  // unknown dtype or a non-safetensors file: bytes, element width 1
  kBool = 1,
  kU8 = 2, kI8 = 3, kU16 = 4, kI16 = 5, kU32 = 6, kI32 = 7, kU64 = 8, kI64 = 9,
  kF16 = 10, kBF16 = 11, kF32 = 12, kF64 = 13,
  kF8E4M3 = 14, kF8E5M2 = 15,
};
constexpr uint8_t kMaxDTypeCode = 15;

struct DTypeInfo {
  const char* name;    // safetensors spelling, "RAW" for kRaw
  uint8_t width;       // bytes per element (1 for kRaw)
  bool is_float;       // sign-magnitude: ordinal mapping applies
  uint8_t exp_shift;   // exponent field position (floats), for context modelling
  uint8_t exp_bits;    // exponent field width (floats; 0 otherwise)
};

const DTypeInfo& Info(DType t);
// Known safetensors names map to their DType; anything else to nullopt
// (the caller falls back to kRaw and keeps the original name).
std::optional<DType> DTypeFromName(const std::string& name);
// Validates a code read from a file.
std::optional<DType> DTypeFromCode(uint8_t code);

}  // namespace deltaswarm
