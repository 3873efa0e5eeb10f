#include "deltaswarm/dtype.h"

#include <array>
#include <cstring>

namespace deltaswarm {

namespace {
constexpr std::array<DTypeInfo, kMaxDTypeCode + 1> kInfo = {{
    {"RAW", 1, false, 0, 0},
    {"BOOL", 1, false, 0, 0},
    {"U8", 1, false, 0, 0},
    {"I8", 1, false, 0, 0},
    {"U16", 2, false, 0, 0},
    {"I16", 2, false, 0, 0},
    {"U32", 4, false, 0, 0},
    {"I32", 4, false, 0, 0},
    {"U64", 8, false, 0, 0},
    {"I64", 8, false, 0, 0},
    {"F16", 2, true, 10, 5},
    {"BF16", 2, true, 7, 8},
    {"F32", 4, true, 23, 8},
    {"F64", 8, true, 52, 11},
    {"F8_E4M3", 1, true, 3, 4},
    {"F8_E5M2", 1, true, 2, 5},
}};
}  // namespace

const DTypeInfo& Info(DType t) { return kInfo[static_cast<uint8_t>(t)]; }

std::optional<DType> DTypeFromName(const std::string& name) {
  for (uint8_t code = 1; code <= kMaxDTypeCode; ++code)
    if (name == kInfo[code].name) return static_cast<DType>(code);
  return std::nullopt;
}

std::optional<DType> DTypeFromCode(uint8_t code) {
  if (code > kMaxDTypeCode) return std::nullopt;
  return static_cast<DType>(code);
}

}  // namespace deltaswarm
