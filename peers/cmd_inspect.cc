// deltaswarm inspect PATH: a checkpoint's tensors, or a delta's per-tensor
// changed fraction, sizes and ratio.
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "deltaswarm/checkpoint.h"
#include "deltaswarm/delta.h"
#include "progress_reporter.h"

namespace deltaswarm::cli {

namespace {

std::string ShapeText(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const char* KindName(SegmentKind k) {
  switch (k) {
    case SegmentKind::kHeader: return "header";
    case SegmentKind::kTensor: return "tensor";
    case SegmentKind::kFile: return "file";
  }
  return "?";
}

Result<CommandOutput> InspectCheckpoint(const std::string& path) {
  DS_ASSIGN_OR_RETURN(Checkpoint ckpt, OpenCheckpoint(path));
  CommandOutput out;
  nlohmann::json files = nlohmann::json::array();
  uint64_t tensors = 0;
  for (const auto& f : ckpt.files) {
    nlohmann::json jt = nlohmann::json::array();
    char line[512];
    std::snprintf(line, sizeof line, "%s  %s%s\n", f.rel_path.c_str(), HumanBytes(f.size).c_str(),
                  f.is_safetensors ? "  safetensors" : "");
    out.text += line;
    for (const auto& t : f.header.tensors) {
      ++tensors;
      jt.push_back({{"name", t.name}, {"dtype", t.dtype_name}, {"shape", t.shape}, {"bytes", t.bytes()},
                    {"offset", t.begin}});
      std::snprintf(line, sizeof line, "  %-60s %-8s %-20s %12s\n", t.name.c_str(), t.dtype_name.c_str(),
                    ShapeText(t.shape).c_str(), HumanBytes(t.bytes()).c_str());
      out.text += line;
    }
    files.push_back({{"path", f.rel_path}, {"bytes", f.size}, {"safetensors", f.is_safetensors}, {"tensors", jt}});
  }
  out.text += std::to_string(ckpt.files.size()) + " file(s), " + std::to_string(tensors) + " tensors, " +
              HumanBytes(ckpt.total_bytes()) + "\n";
  out.result = {{"kind", "checkpoint"}, {"path", path}, {"bytes", ckpt.total_bytes()}, {"tensors", tensors},
                {"files", files}};
  return out;
}

Result<CommandOutput> InspectDelta(const std::string& path) {
  DS_ASSIGN_OR_RETURN(DeltaIndex index, ReadDeltaIndex(path));
  CommandOutput out;
  nlohmann::json segments = nlohmann::json::array();
  char line[512];
  std::snprintf(line, sizeof line, "%-60s %-8s %-7s %9s %12s %12s %8s\n", "segment", "dtype", "base", "changed",
                "raw", "delta", "ratio");
  out.text += line;
  for (const auto& s : index.segments) {
    uint64_t stored = 0, changed = 0;
    for (uint64_t k = s.first_frame; k < s.first_frame + s.frame_count; ++k) {
      stored += index.frames[k].stored_len;
      changed += index.frames[k].changed;
    }
    uint64_t elements = s.length / Info(s.dtype).width;
    double fraction = elements ? static_cast<double>(changed) / elements : 0.0;
    double ratio = stored ? static_cast<double>(s.length) / stored : 0.0;
    const char* base = s.base_file == kNoBase ? "whole" : (s.base_length == s.length ? "delta" : "patch");
    std::string name = index.files.size() > 1 ? index.files[s.file].path + ":" + s.name : s.name;
    segments.push_back({{"file", index.files[s.file].path}, {"name", s.name}, {"kind", KindName(s.kind)},
                        {"dtype", Info(s.dtype).name}, {"base", base}, {"raw_bytes", s.length},
                        {"delta_bytes", stored}, {"changed_fraction", fraction}, {"ratio", ratio}});
    std::snprintf(line, sizeof line, "%-60s %-8s %-7s %8.3f%% %12s %12s %8.1f\n", name.c_str(), Info(s.dtype).name,
                  base, 100 * fraction, HumanBytes(s.length).c_str(), HumanBytes(stored).c_str(), ratio);
    out.text += line;
  }
  uint64_t raw = index.target_bytes(), delta = index.delta_bytes();
  double ratio = delta ? static_cast<double>(raw) / delta : 0.0;
  std::snprintf(line, sizeof line, "%s: %s, %zu file(s), %s -> %s in %zu chunks, %zu frames, ratio %.1f\n",
                path.c_str(), index.is_keyframe() ? "keyframe" : "delta", index.files.size(),
                HumanBytes(raw).c_str(), HumanBytes(delta).c_str(), index.chunks.size(), index.frames.size(), ratio);
  out.text += line;
  out.result = {{"kind", index.is_keyframe() ? "keyframe" : "delta"},
                {"path", path},
                {"index_version", index.version},
                {"target_bytes", raw},
                {"delta_bytes", delta},
                {"ratio", ratio},
                {"chunks", index.chunks.size()},
                {"frames", index.frames.size()},
                {"segments", segments}};
  return out;
}

}  // namespace

void AddInspectCommand(CLI::App& app, Registry& registry) {
  auto path = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "inspect", "Show a checkpoint's tensors, or a delta's per-tensor changed fraction, sizes and ratio");
  sub->add_option("path", *path, "Checkpoint file or directory, or delta directory")->required();
  AddOutputFlags(sub, registry);
  sub->callback([path, &registry] {
    registry.chosen = "inspect";
    registry.body = [path](ProgressFn) -> Result<CommandOutput> {
      std::error_code ec;
      if (std::filesystem::exists(*path + "/" + kIndexFileName, ec)) return InspectDelta(*path);
      return InspectCheckpoint(*path);
    };
  });
}

}  // namespace deltaswarm::cli
