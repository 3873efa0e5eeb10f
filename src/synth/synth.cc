// The synth driver: plans the model, opens one SafetensorsWriter per version
// and streams blocks of elements through BlockTrainers on a thread pool. Each
// block is trained through all versions before the next is touched, so memory
// is bounded by the block size, not by the model.
#include "deltaswarm/synth.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>

#include "core/file.h"
#include "core/parallel.h"
#include "format/safetensors_writer.h"
#include "synth/block_trainer.h"
#include "synth/model_shape.h"

namespace deltaswarm {

namespace {

// 128 Ki elements: a few MB of state per thread and 256 KB bf16 writes.
constexpr uint64_t kBlockElements = uint64_t{1} << 17;
// Every version's file is open at once; stay well inside the usual fd limit.
constexpr unsigned kMaxVersions = 256;
const std::vector<std::pair<std::string, std::string>> kMetadata = {{"format", "pt"}};

std::string Num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

Status Validate(const SynthOptions& o) {
  if (o.out_dir.empty()) return InvalidArgument("an output directory is required");
  if (o.versions > kMaxVersions)
    return InvalidArgument("--versions " + std::to_string(o.versions) + ": at most " + std::to_string(kMaxVersions));
  if (!std::isfinite(o.lr) || o.lr < 0 || o.lr > 1)
    return InvalidArgument("--lr " + Num(o.lr) + ": must be in [0, 1]");
  if (!std::isfinite(o.weight_decay) || o.weight_decay < 0 || o.weight_decay > 10)
    return InvalidArgument("--weight-decay " + Num(o.weight_decay) + ": must be in [0, 10]");
  if (o.dtype != DType::kBF16 && o.dtype != DType::kF16 && o.dtype != DType::kF32)
    return InvalidArgument(std::string("--dtype ") + Info(o.dtype).name + ": use BF16, F16 or F32");
  return Status::Ok();
}

struct WorkItem {
  size_t tensor;
  uint64_t begin;  // first element
  size_t n;
};

std::vector<WorkItem> SplitIntoBlocks(const synth::ModelShape& shape) {
  std::vector<WorkItem> items;
  for (size_t t = 0; t < shape.tensors.size(); ++t) {
    uint64_t count = shape.tensors[t].elements();
    for (uint64_t b = 0; b < count; b += kBlockElements)
      items.push_back({t, b, static_cast<size_t>(std::min(kBlockElements, count - b))});
  }
  return items;
}

// Creates the vK directories; removes them again unless released, so a
// failed run leaves nothing half-written behind.
class DirGuard {
 public:
  ~DirGuard() {
    if (!released_)
      for (const auto& d : created_) (void)RemoveAll(d);
  }
  Status Create(const std::string& dir) {
    std::error_code ec;
    bool made = std::filesystem::create_directories(dir, ec);
    if (ec) return ErrnoStatus(dir, ec.value());
    if (made) created_.push_back(dir);
    return Status::Ok();
  }
  void Release() { released_ = true; }

 private:
  std::vector<std::string> created_;
  bool released_ = false;
};

}  // namespace

Result<SynthReport> SynthesizeWithReport(const SynthOptions& o, ProgressFn progress) {
  DS_RETURN_IF_ERROR(Validate(o));
  DS_ASSIGN_OR_RETURN(synth::ModelShape shape, synth::PlanModel(o.params));
  const unsigned width = Info(o.dtype).width;
  std::vector<TensorSpec> specs;
  for (const auto& t : shape.tensors) specs.push_back({t.name, o.dtype, t.shape});
  DS_ASSIGN_OR_RETURN(std::string header, SafetensorsHeaderBytes(specs, kMetadata));
  const uint64_t file_bytes = header.size() + shape.params() * width;
  const uint64_t total = file_bytes * (o.versions + 1);

  if (PathExists(o.out_dir) && !IsDirectory(o.out_dir))
    return InvalidArgument(o.out_dir + ": exists and is not a directory");
  std::vector<std::string> dirs;
  for (unsigned k = 0; k <= o.versions; ++k) {
    dirs.push_back(o.out_dir + "/v" + std::to_string(k));
    if (PathExists(dirs.back()) && !o.force)
      return AlreadyExists(dirs.back() + ": already exists (--force replaces it)");
  }
  if (o.force)
    for (const auto& d : dirs) DS_RETURN_IF_ERROR(RemoveAll(d));
  DS_ASSIGN_OR_RETURN(uint64_t free_bytes, FreeSpace(o.out_dir));
  if (free_bytes < total)
    return NoSpace(o.out_dir + ": needs " + std::to_string(total) + " bytes, " + std::to_string(free_bytes) +
                   " free");

  DirGuard guard;
  std::vector<std::unique_ptr<SafetensorsWriter>> writers;
  for (const auto& d : dirs) {
    DS_RETURN_IF_ERROR(guard.Create(d));
    DS_ASSIGN_OR_RETURN(auto w, SafetensorsWriter::Create(d + "/model.safetensors", specs, kMetadata));
    writers.push_back(std::move(w));
  }

  const std::vector<WorkItem> items = SplitIntoBlocks(shape);
  const unsigned threads = std::max<unsigned>(
      1, static_cast<unsigned>(std::min<size_t>(ResolveThreads(o.threads), items.size())));
  const synth::TrainParams params{o.seed, o.lr, o.weight_decay, o.dtype};
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> done{header.size() * (o.versions + 1)};
  std::vector<std::atomic<uint64_t>> changed_prev(o.versions + 1), changed_base(o.versions + 1);
  std::mutex progress_mu;

  // One long-lived task per thread, each with its own trainer and buffers.
  auto worker = [&](size_t) -> Status {
    synth::BlockTrainer trainer(params);
    std::vector<std::byte> base, prev;
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return Status::Ok();
      const size_t i = next.fetch_add(1);
      if (i >= items.size()) return Status::Ok();
      const WorkItem& item = items[i];
      const uint64_t offset = item.begin * width;
      trainer.Init(shape.tensors[item.tensor], item.begin, item.n);
      auto bytes = trainer.Encode();
      base.assign(bytes.begin(), bytes.end());
      Status s = writers[0]->WriteTensor(item.tensor, offset, bytes);
      prev = base;
      for (unsigned k = 1; s.ok() && k <= o.versions; ++k) {
        trainer.Step(k);
        bytes = trainer.Encode();
        changed_prev[k] += synth::CountChanged(bytes, prev, width);
        changed_base[k] += synth::CountChanged(bytes, base, width);
        s = writers[k]->WriteTensor(item.tensor, offset, bytes);
        prev.assign(bytes.begin(), bytes.end());
      }
      if (!s.ok()) {
        failed = true;
        return s;
      }
      done.fetch_add(item.n * width * (o.versions + 1));
      if (progress) {
        // Progress is reported from one thread at a time; a busy reporter is skipped.
        std::unique_lock lock(progress_mu, std::try_to_lock);
        if (lock.owns_lock()) progress("synth", done.load(), total);
      }
    }
  };
  DS_RETURN_IF_ERROR(RunParallel(threads, threads, worker));
  for (auto& w : writers) DS_RETURN_IF_ERROR(w->Commit());
  guard.Release();
  if (progress) progress("synth", total, total);

  SynthReport report;
  report.params = shape.params();
  report.d_model = shape.d_model;
  report.layers = shape.layers;
  report.vocab = shape.vocab;
  report.ffn = shape.ffn;
  report.tensors = shape.tensors.size();
  report.total_bytes = total;
  for (unsigned k = 0; k <= o.versions; ++k)
    report.files.push_back({k, writers[k]->path(), file_bytes, changed_prev[k].load(), changed_base[k].load()});
  return report;
}

Status Synthesize(const SynthOptions& options, ProgressFn progress) {
  return SynthesizeWithReport(options, std::move(progress)).status();
}

}  // namespace deltaswarm
