// deltaswarm apply [BASE] DELTA_DIR -o OUT
#include "command.h"
#include "deltaswarm/delta.h"
#include "progress_reporter.h"

namespace deltaswarm::cli {

namespace {
struct ApplyArgs {
  std::vector<std::string> paths;
  std::string out;
  ApplyOptions options;
};
}  // namespace

void AddApplyCommand(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<ApplyArgs>();
  CLI::App* sub = app.add_subcommand(
      "apply", "Rebuild the new checkpoint from BASE and DELTA_DIR (no BASE for a keyframe); verified, atomic");
  sub->add_option("paths", args->paths, "BASE DELTA_DIR, or DELTA_DIR alone for a keyframe")
      ->required()
      ->expected(1, 2);
  sub->add_option("-o,--output", args->out, "Output file or directory (must not exist)")->required();
  sub->add_flag("-f,--force", args->options.force, "Replace an existing output, only after the new one is verified");
  sub->add_option("-j,--threads", args->options.threads, "Worker threads (default: all cores)");
  AddOutputFlags(sub, registry);
  sub->callback([args, &registry] {
    registry.chosen = "apply";
    registry.body = [args](ProgressFn progress) -> Result<CommandOutput> {
      std::string base = args->paths.size() == 2 ? args->paths[0] : "";
      std::string delta = args->paths.back();
      DS_ASSIGN_OR_RETURN(ApplyStats s, Apply(base, delta, args->out, args->options, progress));
      CommandOutput out;
      out.result = {{"output", args->out},
                    {"target_bytes", s.target_bytes},
                    {"delta_bytes", s.delta_bytes},
                    {"files", s.files},
                    {"frames", s.frames},
                    {"verified", true}};
      out.text = args->out + ": " + HumanBytes(s.target_bytes) + " in " + std::to_string(s.files) +
                 " file(s) written and verified from " + HumanBytes(s.delta_bytes) + " of delta\n";
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
