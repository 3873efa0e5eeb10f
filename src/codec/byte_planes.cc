#include "codec/byte_planes.h"

#include <cassert>
#include <cstring>

#include "codec/element_io.h"
#include "codec/ordinal.h"

namespace deltaswarm {
namespace {


template <int W>
void SplitT(const std::byte* in, size_t n, std::byte* out) {
  for (size_t i = 0; i < n; ++i)
    for (int b = 0; b < W; ++b) out[b * n + i] = in[i * W + b];
}

template <int W>
void JoinT(const std::byte* planes, size_t n, std::byte* out) {
  for (size_t i = 0; i < n; ++i)
    for (int b = 0; b < W; ++b) out[i * W + b] = planes[b * n + i];
}

template <int W, bool F>
uint64_t SplitDeltaT(const std::byte* base, const std::byte* target, size_t n, std::byte* out) {
  uint64_t nonzero = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t d = OrdinalDelta(Load<W>(base + i * W), Load<W>(target + i * W), W, F);
    nonzero += d != 0;
    for (int b = 0; b < W; ++b) out[b * n + i] = static_cast<std::byte>(d >> (8 * b));
  }
  return nonzero;
}

template <int W, bool F>
uint64_t JoinDeltaT(const std::byte* base, const std::byte* planes, size_t n, std::byte* out) {
  uint64_t nonzero = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t d = 0;
    for (int b = 0; b < W; ++b) d |= static_cast<uint64_t>(planes[b * n + i]) << (8 * b);
    nonzero += d != 0;
    Store<W>(out + i * W, ApplyOrdinalDelta(Load<W>(base + i * W), d, W, F));
  }
  return nonzero;
}

template <bool F>
uint64_t SplitDeltaDispatch(const std::byte* base, const std::byte* target, size_t bytes, int width,
                            std::byte* out) {
  switch (width) {
    case 1: return SplitDeltaT<1, F>(base, target, bytes, out);
    case 2: return SplitDeltaT<2, F>(base, target, bytes / 2, out);
    case 4: return SplitDeltaT<4, F>(base, target, bytes / 4, out);
    default: return SplitDeltaT<8, F>(base, target, bytes / 8, out);
  }
}

template <bool F>
uint64_t JoinDeltaDispatch(const std::byte* base, const std::byte* planes, size_t bytes, int width,
                           std::byte* out) {
  switch (width) {
    case 1: return JoinDeltaT<1, F>(base, planes, bytes, out);
    case 2: return JoinDeltaT<2, F>(base, planes, bytes / 2, out);
    case 4: return JoinDeltaT<4, F>(base, planes, bytes / 4, out);
    default: return JoinDeltaT<8, F>(base, planes, bytes / 8, out);
  }
}

}  // namespace

void SplitPlanes(std::span<const std::byte> in, int width, std::span<std::byte> out) {
  assert(in.size() == out.size());
  const size_t n = in.size() / width, whole = n * width;
  switch (width) {
    case 2: SplitT<2>(in.data(), n, out.data()); break;
    case 4: SplitT<4>(in.data(), n, out.data()); break;
    case 8: SplitT<8>(in.data(), n, out.data()); break;
    default: if (whole) std::memcpy(out.data(), in.data(), whole);
  }
  if (whole < in.size()) std::memcpy(out.data() + whole, in.data() + whole, in.size() - whole);
}

void JoinPlanes(std::span<const std::byte> planes, int width, std::span<std::byte> out) {
  assert(planes.size() == out.size());
  const size_t n = planes.size() / width, whole = n * width;
  switch (width) {
    case 2: JoinT<2>(planes.data(), n, out.data()); break;
    case 4: JoinT<4>(planes.data(), n, out.data()); break;
    case 8: JoinT<8>(planes.data(), n, out.data()); break;
    default: if (whole) std::memcpy(out.data(), planes.data(), whole);
  }
  if (whole < planes.size())
    std::memcpy(out.data() + whole, planes.data() + whole, planes.size() - whole);
}

uint64_t SplitDeltaPlanes(std::span<const std::byte> base, std::span<const std::byte> target,
                          int width, bool is_float, std::span<std::byte> out) {
  assert(base.size() == target.size() && out.size() == target.size() && target.size() % width == 0);
  return is_float ? SplitDeltaDispatch<true>(base.data(), target.data(), target.size(), width, out.data())
                  : SplitDeltaDispatch<false>(base.data(), target.data(), target.size(), width, out.data());
}

uint64_t JoinDeltaPlanes(std::span<const std::byte> base, std::span<const std::byte> planes,
                         int width, bool is_float, std::span<std::byte> out) {
  assert(base.size() == planes.size() && out.size() == planes.size() && planes.size() % width == 0);
  return is_float ? JoinDeltaDispatch<true>(base.data(), planes.data(), planes.size(), width, out.data())
                  : JoinDeltaDispatch<false>(base.data(), planes.data(), planes.size(), width, out.data());
}

}  // namespace deltaswarm
