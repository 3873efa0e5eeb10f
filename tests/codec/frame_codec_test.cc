#include "codec/frame_codec.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "codec/ordinal.h"
#include "codec/byte_planes.h"
#include "codec/sparse_coder.h"
#include "codec/zstd_codec.h"
#include "test_util.h"

namespace deltaswarm {
namespace {

using Bytes = std::vector<std::byte>;

Bytes ToBytes(const std::vector<uint8_t>& v) {
  Bytes b(v.size());
  if (!v.empty()) std::memcpy(b.data(), v.data(), v.size());
  return b;
}

Bytes Random(size_t n, uint64_t seed) { return ToBytes(testing::RandomBytes(n, seed)); }

std::vector<DType> AllDTypes() {
  std::vector<DType> all;
  for (uint8_t c = 0; c <= kMaxDTypeCode; ++c) all.push_back(*DTypeFromCode(c));
  return all;
}

// Moves `changed` distinct random elements of base by a small ordinal step
// (or to random bits when `wild`), so every chosen element differs.
Bytes Perturb(DType dtype, const Bytes& base, size_t changed, uint64_t seed, bool wild = false) {
  const DTypeInfo& info = Info(dtype);
  const size_t w = info.width, n = base.size() / w;
  Bytes target = base;
  std::mt19937_64 rng(seed);
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  std::shuffle(idx.begin(), idx.end(), rng);
  for (size_t k = 0; k < changed; ++k) {
    const size_t i = idx[k];
    uint64_t old_bits = 0, new_bits = 0;
    std::memcpy(&old_bits, &base[i * w], w);
    do {
      if (wild) {
        new_bits = rng() & WidthMask(static_cast<int>(w));
      } else {
        uint64_t step = 1 + rng() % 3;
        uint64_t d = ZigZag(rng() % 2 ? step : WidthMask(static_cast<int>(w)) + 1 - step,
                            static_cast<int>(w));
        new_bits = ApplyOrdinalDelta(old_bits, d, static_cast<int>(w), info.is_float);
      }
    } while (new_bits == old_bits);
    std::memcpy(&target[i * w], &new_bits, w);
  }
  return target;
}

bool IsSparse(FrameMode m) { return m == FrameMode::kSparse || m == FrameMode::kClassSparse; }
bool IsDense(FrameMode m) { return m == FrameMode::kDense || m == FrameMode::kClassDense; }

// A pair like an AdamW step: weights spread over many exponents, moved by
// an ulp or two with a probability that halves with each exponent step up.
std::pair<Bytes, Bytes> AdamWLike(DType dtype, size_t n, uint64_t seed) {
  const DTypeInfo& info = Info(dtype);
  const int w = info.width;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> weight(0, 0.02);
  std::uniform_real_distribution<double> unit(0, 1);
  Bytes base(n * w), target(n * w);
  const int bias = (1 << (info.exp_bits - 1)) - 1;
  const int mantissa_bits = info.exp_shift;
  for (size_t i = 0; i < n; ++i) {
    // |x| of a N(0, 0.02) weight, written as sign, exponent and a random mantissa.
    const double x = std::max(std::abs(weight(rng)), 1e-6);
    const int exponent = std::max(1, bias + static_cast<int>(std::floor(std::log2(x))));
    const uint64_t bits = (uint64_t{rng() & 1} << (8 * w - 1)) | (uint64_t(exponent) << mantissa_bits) |
                          (rng() & ((uint64_t{1} << mantissa_bits) - 1));
    const double p = std::min(0.5, 0.03 * std::exp2(bias - 6 - exponent));
    uint64_t moved = bits;
    if (unit(rng) < p) moved = ApplyOrdinalDelta(bits, 1 + rng() % 2, w, true);
    std::memcpy(&base[i * w], &bits, w);
    std::memcpy(&target[i * w], &moved, w);
  }
  return {base, target};
}

EncodedFrame RoundTrip(DType dtype, const Bytes& base, const Bytes& target, int level = 3) {
  auto frame = EncodeFrame(dtype, base, target, FrameEncodeOptions{level});
  REQUIRE_MESSAGE(frame.ok(), frame.status().ToString());
  auto header = ParseFrameHeader(frame->bytes);
  REQUIRE_MESSAGE(header.ok(), header.status().ToString());
  CHECK(header->mode == frame->header.mode);
  CHECK(header->raw_len == target.size());
  CHECK(header->payload_len == frame->bytes.size() - kFrameHeaderSize);
  CHECK(header->target_hash == HashBytes(target));
  Bytes out(target.size(), std::byte{0xCD});
  Status s = DecodeFrame(frame->bytes, base, out);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(out == target);
  // Deterministic: a second encoding is byte-identical.
  auto again = EncodeFrame(dtype, base, target, FrameEncodeOptions{level});
  REQUIRE(again.ok());
  CHECK(again->bytes == frame->bytes);
  return std::move(frame).value();
}

TEST_CASE("every dtype round trips in every mode") {
  for (DType dtype : AllDTypes()) {
    const size_t w = Info(dtype).width, n = 3000;
    CAPTURE(Info(dtype).name);
    const Bytes base = Random(n * w, 1 + static_cast<uint64_t>(dtype));
    CHECK(RoundTrip(dtype, base, base).header.mode == FrameMode::kUnchanged);
    auto sparse = RoundTrip(dtype, base, Perturb(dtype, base, n / 100, 2));
    CHECK(IsSparse(sparse.header.mode));
    CHECK(sparse.header.changed == n / 100);
    CHECK(IsSparse(RoundTrip(dtype, base, Perturb(dtype, base, n / 100, 3, true)).header.mode));
    auto dense = RoundTrip(dtype, base, Perturb(dtype, base, n * 9 / 10, 4));
    CHECK(dense.header.mode == (Info(dtype).is_float ? FrameMode::kClassDense : FrameMode::kDense));
    CHECK(dense.header.changed == n * 9 / 10);
    // Between 15 % and 60 % both are tried; either is fine.
    auto mid = RoundTrip(dtype, base, Perturb(dtype, base, n * 3 / 10, 5));
    CHECK((IsSparse(mid.header.mode) || IsDense(mid.header.mode)));
    auto full = RoundTrip(dtype, {}, base);
    CHECK(full.header.mode == FrameMode::kFull);
    CHECK(full.header.changed == n);
    CHECK(full.header.base_hash == Hash128{});
    auto patch = RoundTrip(dtype, base, Random(n * w + 5 * w, 77));
    CHECK(patch.header.mode == FrameMode::kPatch);
  }
}

TEST_CASE("all elements changed, and single changes at the ends") {
  for (DType dtype : {DType::kBF16, DType::kF32, DType::kI64, DType::kRaw, DType::kF8E4M3}) {
    const size_t w = Info(dtype).width, n = 1000;
    CAPTURE(Info(dtype).name);
    const Bytes base = Random(n * w, 8);
    auto all = RoundTrip(dtype, base, Perturb(dtype, base, n, 9));
    CHECK(all.header.changed == n);
    for (size_t at : {size_t{0}, n - 1}) {
      Bytes target = base;
      target[at * w] ^= std::byte{0x01};
      auto one = RoundTrip(dtype, base, target);
      CHECK(IsSparse(one.header.mode));
      CHECK(one.header.changed == 1);
    }
    // Single-element frames.
    const Bytes b1 = Random(w, 10);
    Bytes t1 = b1;
    t1[0] ^= std::byte{0x80};
    RoundTrip(dtype, b1, t1);
  }
}

TEST_CASE("empty frames") {
  for (DType dtype : AllDTypes()) {
    auto full = RoundTrip(dtype, {}, {});
    CHECK(full.header.mode == FrameMode::kFull);
    CHECK(full.header.raw_len == 0);
    auto patch = RoundTrip(dtype, Random(Info(dtype).width * 4, 1), {});
    CHECK(patch.header.mode == FrameMode::kPatch);
  }
}

TEST_CASE("extreme differences: 64-bit extremes, NaN and inf patterns, sign flips") {
  const std::vector<uint64_t> specials = {
      0, 1, ~uint64_t{0}, uint64_t{1} << 63, (uint64_t{1} << 63) - 1,
      0x7FF0000000000000ull,   // +inf
      0xFFF0000000000000ull,   // -inf
      0x7FF8000000000001ull,   // NaN
      0xFFFFFFFFFFFFFFFEull, 0x8000000000000001ull, 0x0000000000000001ull};
  for (DType dtype : {DType::kF64, DType::kI64, DType::kU64, DType::kF32, DType::kBF16,
                      DType::kF16, DType::kF8E5M2, DType::kU8}) {
    const int w = Info(dtype).width;
    CAPTURE(Info(dtype).name);
    Bytes base, target;
    for (uint64_t a : specials)
      for (uint64_t b : specials) {
        // Shrink to the width: keep the top bytes for floats (sign, exponent).
        uint64_t aa = w == 8 ? a : (a >> (64 - 8 * w)) ^ (a & WidthMask(w));
        uint64_t bb = w == 8 ? b : (b >> (64 - 8 * w)) ^ (b & WidthMask(w));
        base.insert(base.end(), reinterpret_cast<std::byte*>(&aa), reinterpret_cast<std::byte*>(&aa) + w);
        target.insert(target.end(), reinterpret_cast<std::byte*>(&bb), reinterpret_cast<std::byte*>(&bb) + w);
      }
    // Pad with unchanged elements so the sparse path is taken, then the dense one.
    Bytes pad = Random(w * 5000, 3);
    Bytes sb = pad, st = pad;
    sb.insert(sb.end(), base.begin(), base.end());
    st.insert(st.end(), target.begin(), target.end());
    CHECK(IsSparse(RoundTrip(dtype, sb, st).header.mode));
    RoundTrip(dtype, base, target);
    // Sign flips of every element.
    Bytes flipped = pad;
    for (size_t i = 0; i < flipped.size(); i += w) flipped[i + w - 1] ^= std::byte{0x80};
    CHECK(RoundTrip(dtype, pad, flipped).header.changed == pad.size() / w);
  }
}

TEST_CASE("sizes that are not whole elements") {
  const Bytes base = Random(101, 1), target = Random(101, 2);
  auto r = EncodeFrame(DType::kBF16, base, target, {});
  CHECK(r.status().code() == Code::kInvalidArgument);
  // kFull and kPatch take any size.
  RoundTrip(DType::kF32, {}, target);
  RoundTrip(DType::kF32, Random(64, 4), target);
}

TEST_CASE("patch frames use the base") {
  const Bytes base = Random(200000, 1);
  Bytes target = base;
  target.insert(target.begin() + 1000, std::byte{42});
  target.erase(target.begin() + 150000, target.begin() + 150100);
  auto frame = RoundTrip(DType::kRaw, base, target);
  CHECK(frame.header.mode == FrameMode::kPatch);
  CHECK(frame.bytes.size() < 2000);
}

TEST_CASE("a wrong base is a mismatch") {
  const Bytes base = Random(4000, 1);
  const Bytes target = Perturb(DType::kBF16, base, 20, 2);
  Bytes wrong = base;
  wrong[17] ^= std::byte{1};
  Bytes out(target.size());
  for (const Bytes& t : {target, base, Perturb(DType::kBF16, base, 1900, 3)}) {
    auto frame = EncodeFrame(DType::kBF16, base, t, {});
    REQUIRE(frame.ok());
    Status s = DecodeFrame(frame->bytes, wrong, out);
    CHECK(s.code() == Code::kMismatch);
    CHECK(s.message() == "frame expects a different base (hash mismatch)");
    CHECK(DecodeFrame(frame->bytes, Bytes(base.size() - 2), out).code() == Code::kMismatch);
  }
  auto patch = EncodeFrame(DType::kRaw, base, Random(100, 4), {});
  REQUIRE(patch.ok());
  Bytes pout(100);
  CHECK(DecodeFrame(patch->bytes, wrong, pout).code() == Code::kMismatch);
  // A full frame ignores no base: it takes none.
  auto full = EncodeFrame(DType::kRaw, {}, target, {});
  REQUIRE(full.ok());
  CHECK(DecodeFrame(full->bytes, base, out).code() == Code::kMismatch);
  Bytes small(3);
  CHECK(DecodeFrame(full->bytes, {}, small).code() == Code::kInvalidArgument);
}

// Flips each byte of a frame and expects an error, never a crash, and never
// success with a wrong output. Counts payload flips that decoded correctly.
void FlipEveryByte(const EncodedFrame& frame, const Bytes& base, const Bytes& target,
                   size_t from, int* silent) {
  Bytes out(target.size());
  for (size_t i = from; i < frame.bytes.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
      Bytes bad = frame.bytes;
      bad[i] ^= std::byte{mask};
      Status s = DecodeFrame(bad, base, out);
      if (s.ok()) {
        // Possible only where a bit does not matter (U8 vs I8 in the header,
        // an unused zstd bit); the target hash vouches for the output.
        CHECK(out == target);
        if (i >= kFrameHeaderSize) ++*silent;
      } else if (i >= kFrameHeaderSize) {
        CAPTURE(i);
        CAPTURE(s.ToString());
        CHECK((s.code() == Code::kCorruption || s.code() == Code::kMismatch));
      }
    }
  }
}

TEST_CASE("every single-byte flip of a sparse frame is an error") {
  for (DType dtype : {DType::kBF16, DType::kF32, DType::kU8}) {
    const size_t w = Info(dtype).width;
    const Bytes base = Random(2000 * w, 5);
    const Bytes target = Perturb(dtype, base, 60, 6);
    auto frame = RoundTrip(dtype, base, target);
    REQUIRE(IsSparse(frame.header.mode));
    int silent = 0;
    FlipEveryByte(frame, base, target, 0, &silent);
    CHECK(silent == 0);
  }
  // A class-sparse frame: weights whose change rate follows their exponent.
  const auto [base, target] = AdamWLike(DType::kBF16, 40000, 12);
  auto frame = RoundTrip(DType::kBF16, base, target);
  REQUIRE(frame.header.mode == FrameMode::kClassSparse);
  int silent = 0;
  FlipEveryByte(frame, base, target, 0, &silent);
  CHECK(silent == 0);
  // Every truncation of its payload, with a header that agrees, is an error.
  Bytes out(target.size());
  for (size_t cut = 1; cut <= frame.header.payload_len; ++cut) {
    Bytes shorter(frame.bytes.begin(), frame.bytes.end() - cut);
    const uint64_t payload_len = shorter.size() - kFrameHeaderSize;
    std::memcpy(&shorter[24], &payload_len, 8);
    if (DecodeFrame(shorter, base, out).code() != Code::kCorruption) ++silent;
  }
  CHECK(silent == 0);
}

TEST_CASE("class-sparse frames: chosen where the exponent tells, and smaller") {
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32, DType::kF64}) {
    const std::string name = Info(dtype).name;
    CAPTURE(name);
    const auto [base, target] = AdamWLike(dtype, 200000, 3);
    auto frame = RoundTrip(dtype, base, target);
    CHECK(frame.header.mode == FrameMode::kClassSparse);
    // In place, as apply may decode.
    Bytes inplace = base;
    REQUIRE(DecodeFrame(frame.bytes, inplace, inplace).ok());
    CHECK(inplace == target);
    // Against the plain coder on the same pair: positions cost far less.
    std::vector<std::byte> plain;
    EncodeSparse(dtype, base, target, frame.header.changed, &plain);
    MESSAGE(name, ": class-sparse ", frame.header.payload_len, " bytes, sparse ", plain.size());
    CHECK(frame.header.payload_len * 10 < plain.size() * 9);
  }
  // fp32 masters: every element moves by about lr / ulp(w) ulps.
  {
    const size_t n = 100000;
    const Bytes base = AdamWLike(DType::kF32, n, 4).first;
    Bytes target = base;
    std::mt19937_64 rng(5);
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits;
      std::memcpy(&bits, &base[4 * i], 4);
      const int exponent = (bits >> 23) & 0xFF;
      const uint64_t ulps = std::max<uint64_t>(1, (uint64_t{1} << std::clamp(127 - exponent + 4, 0, 20)) *
                                                      (1 + rng() % 1000) / 1000);
      const uint64_t moved = ApplyOrdinalDelta(bits, ZigZag(rng() % 2 ? ulps : ~ulps + 1, 4), 4, true);
      std::memcpy(&target[4 * i], &moved, 4);
    }
    auto frame = RoundTrip(DType::kF32, base, target);
    CHECK(frame.header.mode == FrameMode::kClassDense);
    std::vector<std::byte> planes(target.size()), zstd;
    SplitDeltaPlanes(base, target, 4, true, planes);
    REQUIRE(ZstdCompress(planes, 3, &zstd).ok());
    MESSAGE("F32 dense: class-dense ", frame.header.payload_len, " bytes, byte planes + zstd ", zstd.size());
    CHECK(frame.header.payload_len * 10 < zstd.size() * 9);
  }
  // Integer dtypes have no exponent: plain sparse.
  const Bytes base = Random(20000 * 4, 4);
  CHECK(RoundTrip(DType::kI32, base, Perturb(DType::kI32, base, 300, 5)).header.mode == FrameMode::kSparse);
}

TEST_CASE("single-byte flips of dense, full and patch frames never give wrong output") {
  const Bytes base = Random(1200, 7);
  const Bytes target = Perturb(DType::kBF16, base, 580, 8);
  auto dense = RoundTrip(DType::kU16, base, target);
  REQUIRE(dense.header.mode == FrameMode::kDense);
  int silent = 0;
  FlipEveryByte(dense, base, target, 0, &silent);
  // zstd ignores a few header bits (e.g. the window size of a single-segment
  // frame); such flips decode to the right bytes, which the hash confirms.
  MESSAGE("dense: flips that decoded correctly: ", silent);
  CHECK(silent < 6);
  silent = 0;
  auto class_dense = RoundTrip(DType::kBF16, base, target);
  REQUIRE(class_dense.header.mode == FrameMode::kClassDense);
  FlipEveryByte(class_dense, base, target, 0, &silent);
  CHECK(silent == 0);
  silent = 0;
  FlipEveryByte(RoundTrip(DType::kBF16, {}, target), {}, target, 0, &silent);
  CHECK(silent < 6);
  silent = 0;
  const Bytes longer = Random(1300, 9);
  FlipEveryByte(RoundTrip(DType::kBF16, base, longer), base, longer, 0, &silent);
  CHECK(silent < 6);
}

TEST_CASE("truncated and extended frames are errors") {
  const Bytes base = Random(3000, 5);
  const Bytes target = Perturb(DType::kBF16, base, 40, 6);
  auto frame = RoundTrip(DType::kBF16, base, target);
  Bytes out(target.size());
  for (size_t len = 0; len < frame.bytes.size(); ++len) {
    Status s = DecodeFrame(std::span(frame.bytes).first(len), base, out);
    CHECK(s.code() == Code::kCorruption);
  }
  Bytes longer = frame.bytes;
  longer.push_back(std::byte{0});
  CHECK(DecodeFrame(longer, base, out).code() == Code::kCorruption);
  // A consistent header over a truncated payload.
  Bytes cut(frame.bytes.begin(), frame.bytes.end() - 3);
  const uint64_t payload_len = cut.size() - kFrameHeaderSize;
  std::memcpy(&cut[24], &payload_len, 8);
  CHECK(DecodeFrame(cut, base, out).code() == Code::kCorruption);
}

TEST_CASE("header validation") {
  const Bytes base = Random(3000, 5);
  auto frame = RoundTrip(DType::kBF16, base, Perturb(DType::kBF16, base, 40, 6));
  auto with = [&](size_t offset, uint8_t value) {
    Bytes b = frame.bytes;
    b[offset] = std::byte{value};
    return ParseFrameHeader(b).status();
  };
  Status v = with(4, 3);
  CHECK(v.code() == Code::kUnsupported);
  CHECK(v.message() == "frame version 3 not supported");
  CHECK(with(0, 'X').code() == Code::kCorruption);  // magic
  CHECK(with(5, 7).code() == Code::kCorruption);    // mode
  CHECK(with(4, 1).ok());                           // a version 1 frame of a version 1 mode
  {
    Bytes v1 = frame.bytes;
    v1[4] = std::byte{1};
    v1[5] = std::byte{static_cast<uint8_t>(FrameMode::kClassSparse)};
    CHECK(ParseFrameHeader(v1).status().code() == Code::kCorruption);  // a version 2 mode in version 1
  }
  CHECK(with(6, 16).code() == Code::kCorruption);   // dtype
  CHECK(with(7, 1).code() == Code::kCorruption);    // reserved
  CHECK(with(79, 1).code() == Code::kCorruption);   // reserved tail
  CHECK(with(5, static_cast<uint8_t>(FrameMode::kUnchanged)).code() == Code::kCorruption);
  CHECK(with(5, static_cast<uint8_t>(FrameMode::kFull)).code() == Code::kCorruption);
  CHECK(FrameModeName(FrameMode::kSparse) == std::string("sparse"));
  CHECK(FrameModeName(FrameMode::kPatch) == std::string("patch"));
}

TEST_CASE("the header layout is the documented one") {
  const Bytes base = Random(64, 5);
  Bytes target = base;
  target[3] ^= std::byte{4};
  auto frame = RoundTrip(DType::kF32, base, target);
  const auto& b = frame.bytes;
  CHECK(std::memcmp(b.data(), "DSFR", 4) == 0);
  CHECK(b[4] == std::byte{kFrameVersion});
  CHECK(IsSparse(static_cast<FrameMode>(b[5])));
  CHECK(b[6] == std::byte{static_cast<uint8_t>(DType::kF32)});
  uint64_t raw_len, base_len, payload_len, changed;
  std::memcpy(&raw_len, &b[8], 8);
  std::memcpy(&base_len, &b[16], 8);
  std::memcpy(&payload_len, &b[24], 8);
  std::memcpy(&changed, &b[32], 8);
  CHECK(raw_len == 64);
  CHECK(base_len == 64);
  CHECK(payload_len == b.size() - 80);
  CHECK(changed == 1);
  CHECK(std::memcmp(&b[40], HashBytes(base).bytes.data(), 16) == 0);
  CHECK(std::memcmp(&b[56], HashBytes(target).bytes.data(), 16) == 0);
}

}  // namespace
}  // namespace deltaswarm
