// Synthetic checkpoints for tests and benchmarks: a transformer-shaped model
// (v0) and versions v1..vN that follow from it by AdamW steps on fp32 masters,
// saved the way a mixed-precision trainer saves them. The fraction of elements
// that change between versions therefore follows from the learning rate, as
// in real fine-tuning runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deltaswarm/dtype.h"
#include "deltaswarm/progress.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

struct SynthOptions {
  std::string out_dir;          // receives v0/model.safetensors ... vN/model.safetensors
  uint64_t params = 0;          // requested parameter count (the result is within a few %)
  unsigned versions = 3;        // N: versions after the base
  double lr = 1e-6;
  double weight_decay = 0.01;
  uint64_t seed = 1;
  DType dtype = DType::kBF16;   // kBF16, kF16 or kF32
  unsigned threads = 0;         // 0: all cores; the output does not depend on it
  bool force = false;           // replace existing vK directories
};

struct SynthVersion {
  unsigned version = 0;
  std::string path;              // the .safetensors file written
  uint64_t bytes = 0;            // its size
  uint64_t changed_vs_prev = 0;  // elements that differ from v(K-1); 0 for v0
  uint64_t changed_vs_base = 0;  // elements that differ from v0
};

struct SynthReport {
  uint64_t params = 0;  // actual parameter count
  uint64_t d_model = 0, layers = 0, vocab = 0, ffn = 0;
  size_t tensors = 0;
  uint64_t total_bytes = 0;
  std::vector<SynthVersion> files;  // v0 first
};

// Writes the checkpoints. Output depends only on the options other than
// threads. Memory stays at a few MB per thread whatever the model size.
// Errors: kInvalidArgument for bad options, kAlreadyExists when a vK exists
// and !force, kNoSpace when the files will not fit, kIoError.
Result<SynthReport> SynthesizeWithReport(const SynthOptions& options, ProgressFn progress);
// The same without the report.
Status Synthesize(const SynthOptions& options, ProgressFn progress);

}  // namespace deltaswarm
