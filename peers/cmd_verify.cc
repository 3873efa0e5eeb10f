// deltaswarm verify PATH --against DELTA_DIR
// deltaswarm verify --dest DIR [--version ID]
#include "command.h"
#include "deltaswarm/delta.h"
#include "deltaswarm/roles.h"
#include "progress_reporter.h"

namespace deltaswarm::cli {

namespace {
struct VerifyArgs {
  std::string path;
  std::string delta;
  std::string dest;
  uint64_t version = 0;
  unsigned threads = 0;
};

Result<CommandOutput> VerifyCheckpoint(const VerifyArgs& args, const ProgressFn& progress) {
  DS_ASSIGN_OR_RETURN(DeltaIndex index, ReadDeltaIndex(args.delta));
  DS_ASSIGN_OR_RETURN(VerifyReport r, VerifyAgainst(args.path, index, args.threads, progress));
  CommandOutput out;
  out.result = {{"path", args.path}, {"files", r.files}, {"bytes", r.bytes}, {"frames", r.frames},
                {"verified", true}};
  out.text = args.path + ": OK (" + std::to_string(r.files) + " file(s), " + HumanBytes(r.bytes) + ", " +
             std::to_string(r.frames) + " frames match)\n";
  return out;
}

// Every held version (or one) read in full; exit 6 naming the damaged ones.
Result<CommandOutput> VerifyStoreVersions(const VerifyArgs& args, const ProgressFn& progress) {
  DS_ASSIGN_OR_RETURN(std::vector<VersionCheckResult> checked,
                      VerifyStore(args.dest, args.version, args.threads, progress));
  CommandOutput out;
  nlohmann::json versions = nlohmann::json::array();
  std::string damaged;
  uint64_t bytes = 0;
  for (const VersionCheckResult& r : checked) {
    versions.push_back({{"version", r.version}, {"intact", r.intact}, {"bytes", r.bytes}, {"error", r.error}});
    bytes += r.bytes;
    out.text += args.dest + ": version " + std::to_string(r.version) +
                (r.intact ? ": OK (" + HumanBytes(r.bytes) + " read)\n" : ": DAMAGED: " + r.error + "\n");
    if (!r.intact) damaged += (damaged.empty() ? "" : "; ") + ("version " + std::to_string(r.version) + ": " + r.error);
  }
  if (!damaged.empty()) return Mismatch(args.dest + ": " + damaged + " (the next pull rebuilds it)");
  out.result = {{"dest", args.dest}, {"versions", versions}, {"bytes", bytes}, {"verified", true}};
  return out;
}
}  // namespace

void AddVerifyCommand(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* sub = app.add_subcommand(
      "verify", "Check that PATH is exactly the target a delta produces (sizes and frame hashes), or re-check "
                "a store's held versions in full (--dest)");
  sub->add_option("path", args->path, "Checkpoint file or directory");
  sub->add_option("--against", args->delta, "Delta directory whose target hashes to check against");
  sub->add_option("--dest", args->dest,
                  "A store (pull, node, publish state): read every held version in full, trusting no stamp; "
                  "refreshes the stamps of intact ones, drops those of damaged ones (exit 6)");
  sub->add_option("--version", args->version, "With --dest: only this version (0: every held one)");
  sub->add_option("-j,--threads", args->threads, "Worker threads (default: all cores)");
  AddOutputFlags(sub, registry);
  sub->callback([args, &registry] {
    registry.chosen = "verify";
    registry.body = [args](ProgressFn progress) -> Result<CommandOutput> {
      if (!args->dest.empty()) {
        if (!args->path.empty() || !args->delta.empty())
          return InvalidArgument("verify: --dest takes neither PATH nor --against");
        return VerifyStoreVersions(*args, progress);
      }
      if (args->path.empty() || args->delta.empty())
        return InvalidArgument("verify: give PATH --against DELTA_DIR, or --dest DIR");
      if (args->version != 0) return InvalidArgument("verify: --version needs --dest");
      return VerifyCheckpoint(*args, progress);
    };
  });
}

}  // namespace deltaswarm::cli
