#include "synth/block_trainer.h"

#include <cmath>
#include <cstring>

#include "synth/float_cast.h"
#include "synth/rng.h"

namespace deltaswarm::synth {

namespace {

// Random streams of a tensor.
constexpr uint64_t kStreamInit = 0;
constexpr uint64_t kStreamDirection = 1;
constexpr uint64_t kStreamMoment = 2;
constexpr uint64_t kStreamNoise = 3;  // + version

constexpr float kInitStd = 0.02f;
constexpr float kNormNoise = 0.01f;
constexpr float kBiasStd = 0.001f;
// The gradient of an element is kGradScale * (kSignal * d + n): d a fixed
// per-element direction, n fresh noise each step. Adam is nearly scale free;
// the scale only keeps eps negligible, as with real gradients. A weak signal
// makes the Adam update's RMS about a quarter of lr, as measured in LLM
// training, rather than the full lr of a first step. With N(0, 0.02) masters
// saved as bf16 this changes ~1.1 % of elements per step at lr 1e-6 and
// ~3.5 % at 4e-6 (synth_test prints the measured values).
constexpr float kGradScale = 1e-3f;
constexpr float kSignal = 0.15f;
constexpr double kBeta1 = 0.9, kBeta2 = 0.999;
// v0 is a checkpoint in the middle of a run: the moments start at their
// steady state and the step count at kStartStep, so versions differ by
// typical steps, not by Adam's oversized first one.
constexpr unsigned kStartStep = 10000;
constexpr float kEps = 1e-8f;

}  // namespace

uint64_t NameKey(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

void BlockTrainer::Init(const SynthTensor& tensor, uint64_t begin, size_t n) {
  tensor_key_ = NameKey(tensor.name);
  begin_ = begin;
  n_ = n;
  decay_ = tensor.kind == InitKind::kMatrix;
  w_.resize(n);
  m_.resize(n);
  v_.resize(n);
  dir_.resize(n);
  const uint64_t ik = StreamKey(params_.seed, tensor_key_, kStreamInit);
  const float scale = tensor.kind == InitKind::kNorm   ? kNormNoise
                      : tensor.kind == InitKind::kBias ? kBiasStd
                                                       : kInitStd;
  const float offset = tensor.kind == InitKind::kNorm ? 1.0f : 0.0f;
  for (size_t i = 0; i < n; ++i) w_[i] = offset + scale * Normal(ik, begin + i);
  const uint64_t dk = StreamKey(params_.seed, tensor_key_, kStreamDirection);
  const uint64_t mk = StreamKey(params_.seed, tensor_key_, kStreamMoment);
  // Steady state of the moments under g = signal + noise: m averages about
  // 1/(1 - beta1) = 10 steps, so it keeps noise of variance (1-b1)/(1+b1);
  // v averages 1000 steps and sits near E[g^2].
  const float m_noise = static_cast<float>(std::sqrt((1 - kBeta1) / (1 + kBeta1)));
  for (size_t i = 0; i < n; ++i) {
    float d = kSignal * Normal(dk, begin + i);
    dir_[i] = d;
    m_[i] = kGradScale * (d + m_noise * Normal(mk, begin + i));
    v_[i] = kGradScale * kGradScale * (d * d + 1.0f);
  }
}

void BlockTrainer::Step(unsigned version) {
  const unsigned step = kStartStep + version;
  // AdamW with bias correction: w -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * w).
  // The decay is added to the update rather than applied as w *= 1 - lr * wd,
  // because 1 - 1e-8 rounds to 1 in fp32.
  const float decay = decay_ ? static_cast<float>(params_.lr * params_.weight_decay) : 0.0f;
  const float b1 = static_cast<float>(kBeta1), b2 = static_cast<float>(kBeta2);
  const float step_size = static_cast<float>(params_.lr / (1.0 - std::pow(kBeta1, step)));
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(kBeta2, step)));
  const uint64_t nk = StreamKey(params_.seed, tensor_key_, kStreamNoise + version);
  float* w = w_.data();
  float* m = m_.data();
  float* v = v_.data();
  const float* dir = dir_.data();
  for (size_t i = 0; i < n_; ++i) {
    float g = kGradScale * (dir[i] + Normal(nk, begin_ + i));
    m[i] = b1 * m[i] + (1.0f - b1) * g;
    v[i] = b2 * v[i] + (1.0f - b2) * g * g;
    float denom = std::sqrt(v[i]) * inv_sqrt_bc2 + kEps;
    w[i] -= step_size * (m[i] / denom) + decay * w[i];
  }
}

std::span<const std::byte> BlockTrainer::Encode() {
  const unsigned width = Info(params_.dtype).width;
  out_.resize(n_ * width);
  std::byte* out = out_.data();
  // Little-endian hosts only (x86-64, arm64): values are stored as they are in memory.
  if (params_.dtype == DType::kF32) {
    std::memcpy(out, w_.data(), n_ * 4);
  } else if (params_.dtype == DType::kBF16) {
    for (size_t i = 0; i < n_; ++i) {
      uint16_t h = FloatToBf16(w_[i]);
      std::memcpy(out + 2 * i, &h, 2);
    }
  } else {
    for (size_t i = 0; i < n_; ++i) {
      uint16_t h = FloatToF16(w_[i]);
      std::memcpy(out + 2 * i, &h, 2);
    }
  }
  return {out, n_ * width};
}

uint64_t CountChanged(std::span<const std::byte> a, std::span<const std::byte> b, unsigned width) {
  uint64_t changed = 0;
  const size_t n = a.size() / width;
  if (width == 2) {
    for (size_t i = 0; i < n; ++i) {
      uint16_t x, y;
      std::memcpy(&x, a.data() + 2 * i, 2);
      std::memcpy(&y, b.data() + 2 * i, 2);
      changed += x != y;
    }
  } else if (width == 4) {
    for (size_t i = 0; i < n; ++i) {
      uint32_t x, y;
      std::memcpy(&x, a.data() + 4 * i, 4);
      std::memcpy(&y, b.data() + 4 * i, 4);
      changed += x != y;
    }
  } else {
    for (size_t i = 0; i < n; ++i) changed += std::memcmp(a.data() + width * i, b.data() + width * i, width) != 0;
  }
  return changed;
}

}  // namespace deltaswarm::synth
