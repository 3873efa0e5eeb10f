#include "codec/class_dense_coder.h"

#include <bit>
#include <memory>
#include <string>

#include "codec/element_io.h"
#include "codec/ordinal.h"
#include "codec/range_coder.h"
#include "codec/sparse_symbols.h"

namespace deltaswarm {
namespace {

// Bits below the leading one that are modeled, per class and length; the
// rest of d is close to uniform. (Four bits, or trees shared by all
// classes, came out larger on AdamW fp32 pairs.)
constexpr int kTopBits = 3;

struct ClassDenseModel {
  Prob length[kExponentClasses][128];               // n = bit_width(d), 0..64
  Prob top[kExponentClasses][65][1 << kTopBits];    // [c][n]: a tree over the top bits
};

template <int W, bool F>
uint64_t EncodeT(const DTypeInfo& info, const std::byte* base, const std::byte* target, size_t bytes,
                 std::vector<std::byte>* out) {
  auto model = std::make_unique<ClassDenseModel>();
  const ExponentClass cls(info);
  RangeEncoder rc(out);
  uint64_t changed = 0;
  for (size_t off = 0; off + W <= bytes; off += W) {
    const uint64_t old_bits = Load<W>(base + off);
    const int c = cls(old_bits);
    const uint64_t d = OrdinalDelta(old_bits, Load<W>(target + off), W, F);
    const int n = std::bit_width(d);
    changed += d != 0;
    rc.EncodeTree(model->length[c], 7, static_cast<uint32_t>(n));
    if (n < 2) continue;
    const int modeled = std::min(kTopBits, n - 1);
    uint32_t m = 1;
    Prob* top = model->top[c][n];
    for (int b = 1; b <= modeled; ++b) {
      const unsigned bit = (d >> (n - 1 - b)) & 1;
      rc.EncodeBit(&top[m], bit);
      m = 2 * m + bit;
    }
    rc.EncodeDirect(d, n - 1 - modeled);
  }
  rc.Finish();
  return changed;
}

template <int W, bool F>
Status DecodeT(const DTypeInfo& info, std::span<const std::byte> stream, uint64_t expected_changed,
               const std::byte* base, size_t bytes, std::byte* out) {
  auto model = std::make_unique<ClassDenseModel>();
  const ExponentClass cls(info);
  RangeDecoder rc(stream);
  uint64_t changed = 0;
  for (size_t off = 0; off + W <= bytes; off += W) {
    const uint64_t old_bits = Load<W>(base + off);
    const int c = cls(old_bits);
    const int n = static_cast<int>(rc.DecodeTree(model->length[c], 7));
    if (n > 8 * W) return Corruption("class-dense payload: difference wider than its element");
    uint64_t d = n;  // 0 or 1
    if (n >= 2) {
      const int modeled = std::min(kTopBits, n - 1);
      uint32_t m = 1;
      Prob* top = model->top[c][n];
      for (int b = 1; b <= modeled; ++b) m = 2 * m + rc.DecodeBit(&top[m]);
      const int rest = n - 1 - modeled;
      d = (uint64_t{m} << rest) | rc.DecodeDirect(rest);
    }
    changed += d != 0;
    Store<W>(out + off, ApplyOrdinalDelta(old_bits, d, W, F));
  }
  if (!rc.ok()) return Corruption("class-dense payload is truncated");
  if (!rc.AtEnd()) return Corruption("class-dense payload has trailing bytes");
  if (changed != expected_changed)
    return Corruption("class-dense payload changes " + std::to_string(changed) + " elements, the header says " +
                      std::to_string(expected_changed));
  return Status::Ok();
}

}  // namespace

uint64_t EncodeClassDense(DType dtype, std::span<const std::byte> base, std::span<const std::byte> target,
                          std::vector<std::byte>* out) {
  const DTypeInfo& info = Info(dtype);
  const auto* b = base.data();
  const auto* t = target.data();
  const size_t n = target.size();
  switch (info.width * 2 + info.is_float) {
    case 3: return EncodeT<1, true>(info, b, t, n, out);
    case 5: return EncodeT<2, true>(info, b, t, n, out);
    case 9: return EncodeT<4, true>(info, b, t, n, out);
    case 17: return EncodeT<8, true>(info, b, t, n, out);
    case 2: return EncodeT<1, false>(info, b, t, n, out);
    case 4: return EncodeT<2, false>(info, b, t, n, out);
    case 8: return EncodeT<4, false>(info, b, t, n, out);
    default: return EncodeT<8, false>(info, b, t, n, out);
  }
}

Status DecodeClassDense(DType dtype, std::span<const std::byte> payload, std::span<const std::byte> base,
                        uint64_t expected_changed, std::span<std::byte> out) {
  const DTypeInfo& info = Info(dtype);
  if (base.size() != out.size() || out.size() % info.width != 0)
    return Corruption("class-dense frame: size is not a whole number of elements");
  const auto* b = base.data();
  auto* o = out.data();
  const size_t n = out.size();
  switch (info.width * 2 + info.is_float) {
    case 3: return DecodeT<1, true>(info, payload, expected_changed, b, n, o);
    case 5: return DecodeT<2, true>(info, payload, expected_changed, b, n, o);
    case 9: return DecodeT<4, true>(info, payload, expected_changed, b, n, o);
    case 17: return DecodeT<8, true>(info, payload, expected_changed, b, n, o);
    case 2: return DecodeT<1, false>(info, payload, expected_changed, b, n, o);
    case 4: return DecodeT<2, false>(info, payload, expected_changed, b, n, o);
    case 8: return DecodeT<4, false>(info, payload, expected_changed, b, n, o);
    default: return DecodeT<8, false>(info, payload, expected_changed, b, n, o);
  }
}

}  // namespace deltaswarm
