// order0_bound OLD NEW: the entropy bounds the benchmark compares deltas to.
// Over every tensor present in both with the same dtype and shape: N elements,
// K changed; n_c elements and k_c changes of class c, the old element's
// exponent field (one class for integer dtypes); d = zigzag of the ordinal
// difference of each changed element. In bits:
//   positions, order-0              N h(K/N)
//   positions | old exponent        sum_c n_c h(k_c/n_c)
//   differences, order-0            K H0(d)
//   differences | old exponent      sum_c k_c H(d | c)
//   order-0 bound                   positions, order-0 + differences, order-0
//   exponent-context bound          positions | exponent + differences | exponent
// The decoder knows the old element, so both conditioned terms are reachable.
// Prints one JSON line; sizes in bytes.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <unordered_map>
#include <vector>

#include "codec/ordinal.h"
#include "core/file.h"
#include "deltaswarm/checkpoint.h"

using namespace deltaswarm;

namespace {

using Histogram = std::unordered_map<uint64_t, uint64_t>;

double EntropyBits(const Histogram& hist) {
  uint64_t total = 0;
  for (const auto& [value, count] : hist) total += count;
  double bits = 0;
  for (const auto& [value, count] : hist) bits -= count * std::log2(static_cast<double>(count) / total);
  return bits;
}

// n h(k/n): the cost of k changes among n elements, each equally likely.
double BinaryEntropyBits(uint64_t n, uint64_t k) {
  if (k == 0 || k == n) return 0;
  const double p = static_cast<double>(k) / n;
  return -static_cast<double>(n) * (p * std::log2(p) + (1 - p) * std::log2(1 - p));
}

uint64_t LoadElement(const std::byte* p, unsigned width) {
  uint64_t v = 0;
  std::memcpy(&v, p, width);
  return v;
}

struct ClassCounts {
  uint64_t elements = 0;
  uint64_t changed = 0;
  Histogram differences;
};

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
  Histogram differences;
  // Keyed by dtype code and exponent, so that classes of different dtypes stay apart.
  std::map<uint32_t, ClassCounts> classes;
  const uint64_t kBlock = 4 << 20;
  std::vector<std::byte> a(kBlock), b(kBlock);
  for (const auto& t : new_h->tensors) {
    auto it = old_by_name.find(t.name);
    if (it == old_by_name.end() || it->second->dtype_name != t.dtype_name || it->second->shape != t.shape) continue;
    const DTypeInfo& info = Info(t.dtype);
    const unsigned w = info.width;
    const uint32_t dtype_key = static_cast<uint32_t>(t.dtype) << 16;
    for (uint64_t pos = 0; pos < t.bytes(); pos += kBlock) {
      const uint64_t len = std::min(kBlock, t.bytes() - pos);
      if (!old_f->ReadAt(it->second->begin + pos, std::span(a.data(), len)).ok() ||
          !new_f->ReadAt(t.begin + pos, std::span(b.data(), len)).ok())
        return 1;
      for (uint64_t i = 0; i + w <= len; i += w) {
        const uint64_t x = LoadElement(&a[i], w), y = LoadElement(&b[i], w);
        const uint32_t exponent =
            info.is_float ? static_cast<uint32_t>((x >> info.exp_shift) & ((1u << info.exp_bits) - 1)) : 0;
        ClassCounts& c = classes[dtype_key | exponent];
        ++n;
        ++c.elements;
        if (x == y) continue;
        ++k;
        ++c.changed;
        const uint64_t d = OrdinalDelta(x, y, w, info.is_float);
        ++differences[d];
        ++c.differences[d];
      }
    }
  }
  const double pos0 = BinaryEntropyBits(n, k), diff0 = EntropyBits(differences);
  double pos_ctx = 0, diff_ctx = 0;
  for (const auto& [key, c] : classes) {
    pos_ctx += BinaryEntropyBits(c.elements, c.changed);
    diff_ctx += EntropyBits(c.differences);
  }
  std::printf(
      "{\"elements\":%llu,\"changed\":%llu,\"changed_fraction\":%.6f,\"order0_bound_bytes\":%.0f,"
      "\"exponent_context_bound_bytes\":%.0f,\"positions_order0_bytes\":%.0f,\"positions_exponent_bytes\":%.0f,"
      "\"differences_order0_bytes\":%.0f,\"differences_exponent_bytes\":%.0f,"
      "\"position_bits_per_change\":%.3f,\"value_bits_per_change\":%.3f}\n",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(k), n ? static_cast<double>(k) / n : 0.0,
      (pos0 + diff0) / 8, (pos_ctx + diff_ctx) / 8, pos0 / 8, pos_ctx / 8, diff0 / 8, diff_ctx / 8,
      k ? pos0 / k : 0.0, k ? diff0 / k : 0.0);
  return 0;
}
