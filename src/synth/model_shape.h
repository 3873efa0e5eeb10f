// The tensor list of the synthetic model: a decoder-only transformer in the
// Llama/Qwen2 naming, sized to a requested parameter count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deltaswarm/status.h"

namespace deltaswarm::synth {

// How a tensor's fp32 masters are initialised.
enum class InitKind {
  kMatrix,  // embeddings and projections: N(0, 0.02)
  kNorm,    // RMSNorm gains: 1 + tiny noise
  kBias,    // attention biases: tiny noise around 0
};

struct SynthTensor {
  std::string name;
  std::vector<uint64_t> shape;
  InitKind kind = InitKind::kMatrix;
  uint64_t elements() const;
};

struct ModelShape {
  uint64_t d_model = 0;
  uint64_t layers = 0;
  uint64_t vocab = 0;
  uint64_t ffn = 0;                  // MLP hidden width
  std::vector<SynthTensor> tensors;  // sorted by name, as safetensors writers lay them out
  uint64_t params() const;
};

// Smallest and largest --params accepted.
constexpr uint64_t kMinSynthParams = 10'000;
constexpr uint64_t kMaxSynthParams = 1'000'000'000'000;

// Picks d_model, layers and vocab so the total is close to `params`
// (within 2 * d_model for all but the smallest models). kInvalidArgument
// outside [kMinSynthParams, kMaxSynthParams].
Result<ModelShape> PlanModel(uint64_t params);

}  // namespace deltaswarm::synth
