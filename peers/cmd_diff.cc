// deltaswarm diff OLD NEW -o DELTA_DIR | diff --keyframe NEW -o DELTA_DIR
#include <cstdio>

#include "command.h"
#include "deltaswarm/delta.h"
#include "progress_reporter.h"

namespace deltaswarm::cli {

namespace {
struct DiffArgs {
  std::vector<std::string> paths;
  std::string out;
  bool keyframe = false;
  std::string frame_size = "4Mi";
  std::string chunk_size = "32Mi";
  DiffOptions options;
};

std::string Ratio(uint64_t a, uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", b ? static_cast<double>(a) / b : 0.0);
  return buf;
}
}  // namespace

void AddDiffCommand(CLI::App& app, Registry& registry) {
  auto args = std::make_shared<DiffArgs>();
  CLI::App* sub = app.add_subcommand("diff", "Write the delta from OLD to NEW (files or checkpoint directories)");
  sub->add_option("paths", args->paths, "OLD NEW, or only NEW with --keyframe")->required()->expected(1, 2);
  sub->add_option("-o,--output", args->out, "Delta directory to create (must not exist)")->required();
  sub->add_flag("--keyframe", args->keyframe, "Encode NEW alone (no base): a full snapshot in the delta format");
  sub->add_flag("-f,--force", args->options.force, "Replace an existing output directory");
  sub->add_option("-j,--threads", args->options.threads, "Worker threads (default: all cores)");
  sub->add_option("--frame-size", args->frame_size, "Raw bytes per frame (default 4Mi)");
  sub->add_option("--chunk-size", args->chunk_size, "Target chunk file size (default 32Mi)");
  sub->add_option("--level", args->options.zstd_level, "zstd level for dense and full frames (default 3)");
  AddOutputFlags(sub, registry);
  sub->callback([args, &registry] {
    registry.chosen = "diff";
    registry.body = [args](ProgressFn progress) -> Result<CommandOutput> {
      std::string old_path, new_path;
      if (args->keyframe) {
        if (args->paths.size() != 1) return InvalidArgument("--keyframe takes only NEW");
        new_path = args->paths[0];
      } else {
        if (args->paths.size() != 2) return InvalidArgument("diff needs OLD and NEW (or --keyframe NEW)");
        old_path = args->paths[0];
        new_path = args->paths[1];
      }
      DS_ASSIGN_OR_RETURN(args->options.frame_bytes, ParseCount(args->frame_size));
      DS_ASSIGN_OR_RETURN(args->options.chunk_bytes, ParseCount(args->chunk_size));
      DS_ASSIGN_OR_RETURN(DiffStats s, Diff(old_path, new_path, args->out, args->options, progress));
      CommandOutput out;
      double changed = s.elements ? static_cast<double>(s.changed) / s.elements : 0.0;
      out.result = {{"output", args->out},
                    {"keyframe", args->keyframe},
                    {"target_bytes", s.target_bytes},
                    {"delta_bytes", s.delta_bytes},
                    {"index_bytes", s.index_bytes},
                    {"ratio", s.delta_bytes ? static_cast<double>(s.target_bytes) / s.delta_bytes : 0.0},
                    {"frames", s.frames},
                    {"chunks", s.chunks},
                    {"changed_fraction", changed},
                    {"frames_by_mode", s.frames_by_mode}};
      char line[256];
      std::snprintf(line, sizeof line, "%s: %s -> %s in %llu chunks (ratio %s, %.3f%% of elements changed)\n",
                    args->out.c_str(), HumanBytes(s.target_bytes).c_str(), HumanBytes(s.delta_bytes).c_str(),
                    static_cast<unsigned long long>(s.chunks), Ratio(s.target_bytes, s.delta_bytes).c_str(),
                    100 * changed);
      out.text = line;
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
