// deltaswarm synth --params 250M --versions 3 --lr 1e-6 --seed 1 -o DIR
#include <cctype>
#include <cstdio>

#include "command.h"
#include "deltaswarm/synth.h"
#include "progress_reporter.h"

namespace deltaswarm::cli {

namespace {
struct SynthArgs {
  std::string params;
  std::string dtype = "BF16";
  SynthOptions options;
};

double Fraction(uint64_t changed, uint64_t params) {
  return params ? static_cast<double>(changed) / static_cast<double>(params) : 0.0;
}

std::string Count(uint64_t n) {
  char buf[32];
  if (n >= 1'000'000'000) std::snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
  else if (n >= 1'000'000) std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  else if (n >= 1'000) std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  else std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  return buf;
}
}  // namespace

void AddSynthCommand(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<SynthArgs>();
  CLI::App* sub = app.add_subcommand(
      "synth", "Write a synthetic checkpoint DIR/v0 and versions DIR/v1..vN trained from it with AdamW");
  sub->add_option("--params", args->params, "Parameter count: 250M, 1.5G, 1000000")->required();
  sub->add_option("--versions", args->options.versions, "Versions after the base (default 3)");
  sub->add_option("--lr", args->options.lr, "Learning rate of each step (default 1e-6)");
  sub->add_option("--weight-decay", args->options.weight_decay, "AdamW weight decay of matrices (default 0.01)");
  sub->add_option("--seed", args->options.seed, "Random seed (default 1)");
  sub->add_option("--dtype", args->dtype, "Saved dtype: BF16 (default), F16 or F32 (the masters)");
  sub->add_option("-o,--output", args->options.out_dir, "Directory that receives v0 ... vN")->required();
  sub->add_option("-j,--threads", args->options.threads, "Worker threads (default: all cores; output is the same)");
  sub->add_flag("-f,--force", args->options.force, "Replace existing vK directories");
  AddOutputFlags(sub, registry);
  sub->callback([args, &registry] {
    registry.chosen = "synth";
    registry.body = [args](ProgressFn progress) -> Result<CommandOutput> {
      SynthOptions opts = args->options;
      DS_ASSIGN_OR_RETURN(opts.params, ParseCount(args->params));
      std::string name = args->dtype;
      for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::optional<DType> dtype = DTypeFromName(name);
      if (!dtype || (*dtype != DType::kBF16 && *dtype != DType::kF16 && *dtype != DType::kF32))
        return InvalidArgument("--dtype " + args->dtype + ": use BF16, F16 or F32");
      opts.dtype = *dtype;
      DS_ASSIGN_OR_RETURN(SynthReport r, SynthesizeWithReport(opts, progress));

      CommandOutput out;
      nlohmann::json files = nlohmann::json::array();
      char line[512];
      std::snprintf(line, sizeof line, "%s: %zu checkpoints of %s params (%s; d_model %llu, %llu layers, vocab %llu)\n",
                    opts.out_dir.c_str(), r.files.size(), Count(r.params).c_str(), Info(opts.dtype).name,
                    static_cast<unsigned long long>(r.d_model), static_cast<unsigned long long>(r.layers),
                    static_cast<unsigned long long>(r.vocab));
      out.text = line;
      for (const auto& f : r.files) {
        nlohmann::json j = {{"version", f.version}, {"path", f.path}, {"bytes", f.bytes}};
        if (f.version == 0) {
          std::snprintf(line, sizeof line, "  v0  %s  %s  (base)\n", f.path.c_str(), HumanBytes(f.bytes).c_str());
        } else {
          double prev = Fraction(f.changed_vs_prev, r.params), base = Fraction(f.changed_vs_base, r.params);
          j["changed_vs_prev"] = prev;
          j["changed_vs_base"] = base;
          std::snprintf(line, sizeof line, "  v%u  %s  %s  changed %.3f%% vs v%u, %.3f%% vs v0\n", f.version,
                        f.path.c_str(), HumanBytes(f.bytes).c_str(), 100 * prev, f.version - 1, 100 * base);
        }
        out.text += line;
        files.push_back(std::move(j));
      }
      out.result = {{"output", opts.out_dir},
                    {"params", r.params},
                    {"requested_params", opts.params},
                    {"dtype", Info(opts.dtype).name},
                    {"versions", opts.versions},
                    {"lr", opts.lr},
                    {"weight_decay", opts.weight_decay},
                    {"seed", opts.seed},
                    {"model",
                     {{"d_model", r.d_model},
                      {"layers", r.layers},
                      {"vocab", r.vocab},
                      {"ffn", r.ffn},
                      {"tensors", r.tensors}}},
                    {"bytes", r.total_bytes},
                    {"files", std::move(files)}};
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
