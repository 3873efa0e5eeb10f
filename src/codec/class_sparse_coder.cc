#include "codec/class_sparse_coder.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "codec/change_scan.h"
#include "codec/element_io.h"
#include "codec/ordinal.h"
#include "codec/range_coder.h"
#include "codec/sparse_symbols.h"
#include "core/bytes.h"

namespace deltaswarm {
namespace {

// "No further change in this class": the gap-length escape with a value no
// gap length reaches (lengths 16..64 use 0..48).
constexpr uint32_t kNeverCode = 63;
constexpr int kNeverLength = kGapLenEscape + 1 + kNeverCode;
constexpr uint64_t kNever = ~uint64_t{0};

// Gaps are counted within a class, so each class has its own rate: its gap
// lengths get a model of their own. The shape of a gap inside its octave is
// much the same for every class and is shared (per-class shapes and a third
// modeled bit both came out larger).
using Shape = GapShapeModel<2>;

struct ClassModel {
  GapLengthModel gap_len[kExponentClasses];
  Shape gap_shape;
  DiffModel diff[kExponentClasses];
};

[[gnu::always_inline]] inline void EncodeClassGap(RangeEncoder& rc, ClassModel& m, int c, uint64_t gap) {
  if (gap == kNever) {
    EncodeGapEscape(rc, m.gap_len[c], m.gap_shape, kNeverCode);
    return;
  }
  EncodeGap(rc, m.gap_len[c], m.gap_shape, gap);
}

// The number of class-c elements before the class's next change, or kNever.
// A malformed stream may name any count; the decoder's final checks catch it.
[[gnu::always_inline]] inline uint64_t DecodeClassGap(RangeDecoder& rc, ClassModel& m, int c, bool* bad) {
  const int n = DecodeGapLength(rc, m.gap_len[c], m.gap_shape);
  if (n == kNeverLength) return kNever;
  if (n > 64) {
    *bad = true;
    return kNever;
  }
  return DecodeGapBits(rc, m.gap_shape, n);
}

// ---- Encoding ----------------------------------------------------------------

template <int W, bool F>
void EncodeT(const DTypeInfo& info, const std::byte* base, const std::byte* target, size_t bytes,
             uint64_t changed, std::vector<std::byte>* out) {
  const ExponentClass cls(info);
  // Pass 1: each class's gaps, counted in elements of the class. Four
  // tallies, so that a run of one class does not wait on its own increments;
  // an element's ordinal within its class is their sum.
  std::vector<uint64_t> next_gap(changed, kNever);  // after the j-th change, within its class
  std::vector<uint64_t> positions;                  // of the changes, so pass 2 need not scan again
  positions.reserve(changed);
  std::array<std::array<uint64_t, kExponentClasses>, 4> tally{};
  std::array<uint64_t, kExponentClasses> first_gap, last_change, last_ord{}, first_pos;
  first_gap.fill(kNever);
  last_change.fill(kNever);
  first_pos.fill(kNever);
  // The first time a tally meets a class; the earliest of the four is its first element.
  auto count = [&](int k, int c, uint64_t i) [[gnu::always_inline]] {
    if (tally[k][c]++ == 0) [[unlikely]]
      first_pos[c] = std::min(first_pos[c], i);
  };
  // Elements are read a word at a time: kPerWord of them per 8-byte load.
  constexpr int kPerWord = 8 / W;
  uint64_t scanned = 0, j = 0;
  ForEachChanged<W>(base, target, bytes, [&](uint64_t i) {
    for (; scanned + kPerWord <= i; scanned += kPerWord) {
      const uint64_t word = Load<8>(base + scanned * W);
      for (int e = 0; e < kPerWord; ++e)
        count(e & 3, cls(word >> (8 * W * e)), scanned + e);
    }
    for (; scanned < i; ++scanned) count(0, cls(Load<W>(base + scanned * W)), scanned);
    const int c = cls(Load<W>(base + i * W));
    const uint64_t ord = tally[0][c] + tally[1][c] + tally[2][c] + tally[3][c];
    positions.push_back(i);
    count(0, c, i);
    scanned = i + 1;
    if (last_change[c] == kNever) {
      first_gap[c] = ord;
    } else {
      next_gap[last_change[c]] = ord - last_ord[c] - 1;
    }
    last_change[c] = j++;
    last_ord[c] = ord;
  });

  // Pass 2: the events in the decoder's order.
  std::vector<std::pair<uint64_t, int>> firsts;
  for (int c = 0; c < kExponentClasses; ++c)
    if (first_pos[c] != kNever) firsts.emplace_back(first_pos[c], c);
  std::sort(firsts.begin(), firsts.end());
  auto model = std::make_unique<ClassModel>();
  RangeEncoder rc(out);
  size_t f = 0;
  for (j = 0; j < positions.size(); ++j) {
    const uint64_t i = positions[j];
    for (; f < firsts.size() && firsts[f].first <= i; ++f)
      EncodeClassGap(rc, *model, firsts[f].second, first_gap[firsts[f].second]);
    const uint64_t old_bits = Load<W>(base + i * W);
    const int c = cls(old_bits);
    EncodeDiff(rc, model->diff[c], OrdinalDelta(old_bits, Load<W>(target + i * W), W, F));
    if (j + 1 < changed) EncodeClassGap(rc, *model, c, next_gap[j]);
  }
  rc.Finish();
}

// ---- Decoding ----------------------------------------------------------------

template <int W, bool F>
Status DecodeT(const DTypeInfo& info, std::span<const std::byte> stream, uint64_t changed,
               const std::byte* base, size_t bytes, std::byte* out) {
  if (changed == 0) return stream.empty() ? Status::Ok() : Corruption("class-sparse payload has trailing bytes");
  RangeDecoder rc(stream);
  auto model = std::make_unique<ClassModel>();
  const ExponentClass cls(info);
  const uint64_t elements = bytes / W;
  // Per class: how many of its elements pass before its next change (kNever,
  // or any huge count from a malformed stream, never runs out in a frame),
  // and whether its first count was read.
  std::array<uint64_t, kExponentClasses> left{};
  std::array<bool, kExponentClasses> started{};
  uint64_t k = 0;
  bool bad = false;
  // Element i of class c, with no elements of c left to pass. Returns true
  // when the scan ends: the K-th change, or a malformed stream.
  auto meet = [&](uint64_t i, uint64_t old_bits, int c) -> bool {
    if (!started[c]) {
      started[c] = true;
      const uint64_t first = DecodeClassGap(rc, *model, c, &bad);
      if (first != 0) {
        left[c] = first - 1;  // this element is one of them
        return bad || !rc.ok();
      }
    }
    const uint64_t d = DecodeDiff(rc, model->diff[c], WidthMask(W));
    if (d == 0 || !rc.ok()) return bad = true;
    Store<W>(out + i * W, ApplyOrdinalDelta(old_bits, d, W, F));
    if (++k == changed) return true;
    left[c] = DecodeClassGap(rc, *model, c, &bad);
    return bad || !rc.ok();
  };
  auto visit = [&](uint64_t i, uint64_t old_bits) [[gnu::always_inline]] {
    const int c = cls(old_bits);
    if (left[c] != 0) [[likely]] {
      --left[c];
      return false;
    }
    return meet(i, old_bits, c);
  };
  // Elements are read a word at a time: kPerWord of them per 8-byte load.
  constexpr int kPerWord = 8 / W;
  uint64_t i = 0;
  bool ended = false;
  for (; !ended && i + kPerWord <= elements; i += kPerWord) {
    const uint64_t word = Load<8>(base + i * W);
    for (int e = 0; e < kPerWord && !ended; ++e) ended = visit(i + e, (word >> (8 * W * e)) & WidthMask(W));
  }
  for (; !ended && i < elements; ++i) ended = visit(i, Load<W>(base + i * W));
  if (bad) return Corruption("class-sparse payload is malformed");
  if (k != changed)
    return Corruption("class-sparse payload holds " + std::to_string(k) + " changes, the header says " +
                      std::to_string(changed));
  if (!rc.ok()) return Corruption("class-sparse payload is truncated");
  if (!rc.AtEnd()) return Corruption("class-sparse payload has trailing bytes");
  return Status::Ok();
}

}  // namespace

void EncodeClassSparse(DType dtype, std::span<const std::byte> base, std::span<const std::byte> target,
                       uint64_t changed, std::vector<std::byte>* out) {
  const DTypeInfo& info = Info(dtype);
  ByteWriter header;
  header.Varint(changed);
  out->insert(out->end(), header.data().begin(), header.data().end());
  if (changed == 0) return;
  const auto* b = base.data();
  const auto* t = target.data();
  const size_t n = target.size();
  switch (info.width * 2 + info.is_float) {
    case 2: EncodeT<1, false>(info, b, t, n, changed, out); break;
    case 3: EncodeT<1, true>(info, b, t, n, changed, out); break;
    case 4: EncodeT<2, false>(info, b, t, n, changed, out); break;
    case 5: EncodeT<2, true>(info, b, t, n, changed, out); break;
    case 8: EncodeT<4, false>(info, b, t, n, changed, out); break;
    case 9: EncodeT<4, true>(info, b, t, n, changed, out); break;
    case 16: EncodeT<8, false>(info, b, t, n, changed, out); break;
    default: EncodeT<8, true>(info, b, t, n, changed, out); break;
  }
}

Status DecodeClassSparse(DType dtype, std::span<const std::byte> payload, std::span<const std::byte> base,
                         uint64_t expected_changed, std::span<std::byte> out) {
  const DTypeInfo& info = Info(dtype);
  if (base.size() != out.size() || out.size() % info.width != 0)
    return Corruption("class-sparse frame: size is not a whole number of elements");
  ByteReader reader(payload);
  const uint64_t count = reader.Varint();
  if (!reader.ok()) return Corruption("class-sparse payload: bad change count");
  if (count != expected_changed)
    return Corruption("class-sparse payload holds " + std::to_string(count) + " changes, the header says " +
                      std::to_string(expected_changed));
  if (count > out.size() / info.width) return Corruption("class-sparse payload: more changes than elements");
  if (!out.empty()) std::memmove(out.data(), base.data(), out.size());
  const auto rc = payload.subspan(reader.position());
  const auto* b = base.data();
  auto* o = out.data();
  const size_t n = out.size();
  switch (info.width * 2 + info.is_float) {
    case 2: return DecodeT<1, false>(info, rc, count, b, n, o);
    case 3: return DecodeT<1, true>(info, rc, count, b, n, o);
    case 4: return DecodeT<2, false>(info, rc, count, b, n, o);
    case 5: return DecodeT<2, true>(info, rc, count, b, n, o);
    case 8: return DecodeT<4, false>(info, rc, count, b, n, o);
    case 9: return DecodeT<4, true>(info, rc, count, b, n, o);
    case 16: return DecodeT<8, false>(info, rc, count, b, n, o);
    default: return DecodeT<8, true>(info, rc, count, b, n, o);
  }
}

}  // namespace deltaswarm
