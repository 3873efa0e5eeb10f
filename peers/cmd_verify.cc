// deltaswarm verify PATH --against DELTA_DIR
#include "command.h"
#include "deltaswarm/delta.h"
#include "progress_reporter.h"

namespace deltaswarm::cli {

namespace {
struct VerifyArgs {
  std::string path;
  std::string delta;
  unsigned threads = 0;
};
}  // namespace

void AddVerifyCommand(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* sub =
      app.add_subcommand("verify", "Check that PATH is exactly the target a delta produces (sizes and frame hashes)");
  sub->add_option("path", args->path, "Checkpoint file or directory")->required();
  sub->add_option("--against", args->delta, "Delta directory whose target hashes to check against")->required();
  sub->add_option("-j,--threads", args->threads, "Worker threads (default: all cores)");
  AddOutputFlags(sub, registry);
  sub->callback([args, &registry] {
    registry.chosen = "verify";
    registry.body = [args](ProgressFn progress) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(DeltaIndex index, ReadDeltaIndex(args->delta));
      DS_ASSIGN_OR_RETURN(VerifyReport r, VerifyAgainst(args->path, index, args->threads, progress));
      CommandOutput out;
      out.result = {{"path", args->path}, {"files", r.files}, {"bytes", r.bytes}, {"frames", r.frames},
                    {"verified", true}};
      out.text = args->path + ": OK (" + std::to_string(r.files) + " file(s), " + HumanBytes(r.bytes) + ", " +
                 std::to_string(r.frames) + " frames match)\n";
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
