#include "synth/model_shape.h"

#include <algorithm>
#include <cmath>

namespace deltaswarm::synth {

uint64_t SynthTensor::elements() const {
  uint64_t n = 1;
  for (uint64_t s : shape) n *= s;
  return n;
}

uint64_t ModelShape::params() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += t.elements();
  return n;
}

namespace {

constexpr uint64_t kMaxVocab = 32000;
constexpr uint64_t kMinVocab = 64;

int64_t RoundTo(double x, int64_t step) { return static_cast<int64_t>(std::llround(x / step)) * step; }

// Parameters of one layer: q,k,v,o [d,d], q/k/v biases, gate/up/down, two norms.
uint64_t LayerParams(uint64_t d, uint64_t f) { return 4 * d * d + 3 * d + 3 * f * d + 2 * d; }

void AddLayer(ModelShape& m, uint64_t i) {
  const std::string p = "model.layers." + std::to_string(i) + ".";
  const uint64_t d = m.d_model, f = m.ffn;
  m.tensors.push_back({p + "input_layernorm.weight", {d}, InitKind::kNorm});
  m.tensors.push_back({p + "post_attention_layernorm.weight", {d}, InitKind::kNorm});
  for (const char* proj : {"q_proj", "k_proj", "v_proj"}) {
    m.tensors.push_back({p + "self_attn." + proj + ".weight", {d, d}, InitKind::kMatrix});
    m.tensors.push_back({p + "self_attn." + proj + ".bias", {d}, InitKind::kBias});
  }
  m.tensors.push_back({p + "self_attn.o_proj.weight", {d, d}, InitKind::kMatrix});
  m.tensors.push_back({p + "mlp.gate_proj.weight", {f, d}, InitKind::kMatrix});
  m.tensors.push_back({p + "mlp.up_proj.weight", {f, d}, InitKind::kMatrix});
  m.tensors.push_back({p + "mlp.down_proj.weight", {d, f}, InitKind::kMatrix});
}

}  // namespace

Result<ModelShape> PlanModel(uint64_t params) {
  if (params < kMinSynthParams || params > kMaxSynthParams)
    return InvalidArgument("--params " + std::to_string(params) + ": must be between " +
                           std::to_string(kMinSynthParams) + " and " + std::to_string(kMaxSynthParams));
  const double p = static_cast<double>(params);
  ModelShape m;
  // d ~ sqrt(P / 240) gives d 1024 at 250M and d 2496 at 1.5G, close to
  // published models; multiples of 64 once large, of 16 when tiny.
  double raw = std::sqrt(p / 240.0);
  m.d_model = static_cast<uint64_t>(raw >= 128 ? RoundTo(raw, 64) : std::max<int64_t>(16, RoundTo(raw, 16)));
  const uint64_t d = m.d_model;
  m.ffn = static_cast<uint64_t>(std::max<int64_t>(64, RoundTo(8.0 / 3.0 * static_cast<double>(d), 64)));
  const uint64_t layer = LayerParams(d, m.ffn);
  // Embeddings take at most about half of a small model.
  uint64_t vocab0 = std::clamp<uint64_t>(params / (4 * d), kMinVocab, kMaxVocab);
  double rest = p - 2.0 * static_cast<double>(vocab0 * d) - static_cast<double>(d);
  m.layers = static_cast<uint64_t>(std::max<int64_t>(1, std::llround(rest / static_cast<double>(layer))));
  // The vocabulary absorbs what whole layers cannot hit.
  double left = p - static_cast<double>(m.layers * layer) - static_cast<double>(d);
  m.vocab = static_cast<uint64_t>(std::max<int64_t>(kMinVocab, std::llround(left / (2.0 * static_cast<double>(d)))));

  m.tensors.push_back({"lm_head.weight", {m.vocab, d}, InitKind::kMatrix});
  m.tensors.push_back({"model.embed_tokens.weight", {m.vocab, d}, InitKind::kMatrix});
  for (uint64_t i = 0; i < m.layers; ++i) AddLayer(m, i);
  m.tensors.push_back({"model.norm.weight", {d}, InitKind::kNorm});
  std::sort(m.tensors.begin(), m.tensors.end(),
            [](const SynthTensor& a, const SynthTensor& b) { return a.name < b.name; });
  return m;
}

}  // namespace deltaswarm::synth
