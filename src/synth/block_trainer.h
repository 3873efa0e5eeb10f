// BlockTrainer: the fp32 masters and AdamW state of one block of a tensor's
// elements, stepped version by version and encoded as the saved dtype. One
// per thread; not thread-safe. Memory is a few buffers of the block size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "deltaswarm/dtype.h"
#include "synth/model_shape.h"

namespace deltaswarm::synth {

struct TrainParams {
  uint64_t seed = 1;
  double lr = 1e-6;
  double weight_decay = 0.01;  // applied to matrices only, as trainers usually do
  DType dtype = DType::kBF16;  // kBF16, kF16 or kF32
};

// Every value depends only on (seed, tensor name, element index, version),
// so blocks may be any size and run in any order.
class BlockTrainer {
 public:
  explicit BlockTrainer(const TrainParams& params) : params_(params) {}

  // Initialises masters, persistent gradient direction and warm moments for
  // elements [begin, begin + n) of `tensor`.
  void Init(const SynthTensor& tensor, uint64_t begin, size_t n);
  // One AdamW step, the one that produces version `version` (1, 2, ...).
  void Step(unsigned version);
  // The masters in the saved dtype, little-endian; valid until the next call.
  std::span<const std::byte> Encode();

  size_t size() const { return n_; }
  std::span<const float> masters() const { return {w_.data(), n_}; }

 private:
  TrainParams params_;
  uint64_t tensor_key_ = 0;
  uint64_t begin_ = 0;
  size_t n_ = 0;
  bool decay_ = false;
  std::vector<float> w_, m_, v_, dir_;  // masters, moments, persistent gradient
  std::vector<std::byte> out_;
};

// Number of elements of `width` bytes that differ between a and b.
uint64_t CountChanged(std::span<const std::byte> a, std::span<const std::byte> b, unsigned width);

// A stable 64-bit hash of a tensor name (FNV-1a), the tensor's RNG identity.
uint64_t NameKey(const std::string& name);

}  // namespace deltaswarm::synth
