// order0_bound OLD NEW: the entropy bounds the benchmark compares deltas to.
// Over every tensor present in both with the same dtype and shape (N elements,
// K changed, d = zigzag of the ordinal difference of each changed element):
//   order-0 bound      = N*h(K/N) + K*H0(d)                  bits
//   exponent-context   = N*h(K/N) + K*H(d | old exponent)    bits
// Prints one JSON line; sizes in bytes.
#include <cmath>
#include <cstring>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <vector>

#include "codec/ordinal.h"
#include "core/file.h"
#include "deltaswarm/checkpoint.h"

using namespace deltaswarm;

namespace {

double EntropyBits(const std::unordered_map<uint64_t, uint64_t>& hist, uint64_t total) {
  double bits = 0;
  for (const auto& [value, count] : hist) bits -= count * std::log2(static_cast<double>(count) / total);
  return bits;
}

uint64_t LoadElement(const std::byte* p, unsigned width) {
  uint64_t v = 0;
  std::memcpy(&v, p, width);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: order0_bound OLD.safetensors NEW.safetensors\n");
    return 2;
  }
  auto old_h = ReadSafetensorsHeader(argv[1]);
  auto new_h = ReadSafetensorsHeader(argv[2]);
  if (!old_h.ok() || !new_h.ok()) {
    std::fprintf(stderr, "order0_bound: %s\n", (!old_h.ok() ? old_h.status() : new_h.status()).message().c_str());
    return 1;
  }
  auto old_f = File::OpenRead(argv[1]);
  auto new_f = File::OpenRead(argv[2]);
  if (!old_f.ok() || !new_f.ok()) return 1;
  std::map<std::string, const TensorInfo*> old_by_name;
  for (const auto& t : old_h->tensors) old_by_name[t.name] = &t;

  uint64_t n = 0, k = 0;
  std::unordered_map<uint64_t, uint64_t> hist;
  std::map<uint32_t, std::unordered_map<uint64_t, uint64_t>> ctx_hist;
  const uint64_t kBlock = 4 << 20;
  std::vector<std::byte> a(kBlock), b(kBlock);
  for (const auto& t : new_h->tensors) {
    auto it = old_by_name.find(t.name);
    if (it == old_by_name.end() || it->second->dtype_name != t.dtype_name || it->second->shape != t.shape) continue;
    const DTypeInfo& info = Info(t.dtype);
    unsigned w = info.width;
    for (uint64_t pos = 0; pos < t.bytes(); pos += kBlock) {
      uint64_t len = std::min(kBlock, t.bytes() - pos);
      if (!old_f->ReadAt(it->second->begin + pos, std::span(a.data(), len)).ok() ||
          !new_f->ReadAt(t.begin + pos, std::span(b.data(), len)).ok())
        return 1;
      for (uint64_t i = 0; i < len; i += w) {
        ++n;
        uint64_t x = LoadElement(&a[i], w), y = LoadElement(&b[i], w);
        if (x == y) continue;
        ++k;
        uint64_t d = OrdinalDelta(x, y, w, info.is_float);
        ++hist[d];
        uint32_t ctx = info.is_float ? static_cast<uint32_t>((x >> info.exp_shift) & ((1u << info.exp_bits) - 1)) : 0;
        ++ctx_hist[ctx][d];
      }
    }
  }
  double pos_bits = 0;
  if (k > 0 && k < n) {
    double p = static_cast<double>(k) / n;
    pos_bits = -static_cast<double>(n) * (p * std::log2(p) + (1 - p) * std::log2(1 - p));
  }
  double value_bits = EntropyBits(hist, k);
  double ctx_bits = 0;
  for (const auto& [ctx, h] : ctx_hist) {
    uint64_t total = 0;
    for (const auto& [v, c] : h) total += c;
    ctx_bits += EntropyBits(h, total);
  }
  std::printf(
      "{\"elements\":%llu,\"changed\":%llu,\"changed_fraction\":%.6f,\"order0_bound_bytes\":%.0f,"
      "\"exponent_context_bound_bytes\":%.0f,\"position_bits_per_change\":%.3f,\"value_bits_per_change\":%.3f}\n",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(k), n ? static_cast<double>(k) / n : 0.0,
      (pos_bits + value_bits) / 8, (pos_bits + ctx_bits) / 8, k ? pos_bits / k : 0.0, k ? value_bits / k : 0.0);
  return 0;
}
