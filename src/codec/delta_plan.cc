#include "codec/delta_plan.h"

#include <algorithm>
#include <map>

namespace deltaswarm {

namespace {

struct BaseTensor {
  uint32_t file;
  const TensorInfo* tensor;
};

class Planner {
 public:
  Planner(const Checkpoint* base, const Checkpoint& target, const PlanOptions& options)
      : base_(base), target_(target), options_(options) {}

  DeltaIndex Run() {
    index_.target_is_directory = target_.is_directory;
    index_.frame_bytes = options_.frame_bytes;
    if (base_) {
      for (uint32_t i = 0; i < base_->files.size(); ++i) {
        const auto& f = base_->files[i];
        index_.base_files.push_back({f.rel_path, f.size});
        base_by_path_[f.rel_path] = i;
        // Tensors are matched by name across shards, so re-sharding still diffs.
        for (const auto& t : f.header.tensors) base_tensors_.emplace(t.name, BaseTensor{i, &t});
      }
    }
    for (uint32_t i = 0; i < target_.files.size(); ++i) PlanFile(i);
    return std::move(index_);
  }

 private:
  // The base file a target file is diffed against: the same relative path, or
  // in single-file mode the one base file whatever its name.
  const CheckpointFile* BaseFileFor(const CheckpointFile& t, uint32_t* index) const {
    if (!base_) return nullptr;
    if (!target_.is_directory && !base_->is_directory && base_->files.size() == 1) {
      *index = 0;
      return &base_->files[0];
    }
    auto it = base_by_path_.find(t.rel_path);
    if (it == base_by_path_.end()) return nullptr;
    *index = it->second;
    return &base_->files[it->second];
  }

  void PlanFile(uint32_t file_index) {
    const CheckpointFile& t = target_.files[file_index];
    index_.files.push_back({t.rel_path, t.size, {}});
    uint32_t base_index = kNoBase;
    const CheckpointFile* b = BaseFileFor(t, &base_index);

    if (!t.is_safetensors) {
      if (!b) return AddSegment(file_index, SegmentKind::kFile, t.rel_path, DType::kRaw, 0, t.size, kNoBase, 0, 0);
      return AddSegment(file_index, SegmentKind::kFile, t.rel_path, DType::kRaw, 0, t.size, base_index, 0, b->size);
    }

    // The header (length prefix + JSON) is diffed against the base's header
    // when the base file is safetensors too, else sent whole.
    uint64_t header = t.header.header_bytes;
    if (b && b->is_safetensors)
      AddSegment(file_index, SegmentKind::kHeader, "(header)", DType::kRaw, 0, header, base_index, 0,
                 b->header.header_bytes);
    else
      AddSegment(file_index, SegmentKind::kHeader, "(header)", DType::kRaw, 0, header, kNoBase, 0, 0);

    for (const TensorInfo& tensor : t.header.tensors) {
      // Empty tensors carry no bytes (the header describes them) and may sit
      // at any offset, even inside another tensor's range: no segment.
      if (tensor.bytes() == 0) continue;
      auto it = base_tensors_.find(tensor.name);
      bool same_layout = it != base_tensors_.end() && it->second.tensor->dtype_name == tensor.dtype_name &&
                         it->second.tensor->shape == tensor.shape && it->second.tensor->bytes() == tensor.bytes();
      if (same_layout)
        AddSegment(file_index, SegmentKind::kTensor, tensor.name, tensor.dtype, tensor.begin, tensor.bytes(),
                   it->second.file, it->second.tensor->begin, tensor.bytes());
      else  // added, reshaped or retyped: sent whole
        AddSegment(file_index, SegmentKind::kTensor, tensor.name, tensor.dtype, tensor.begin, tensor.bytes(),
                   kNoBase, 0, 0);
    }
  }

  void AddSegment(uint32_t file, SegmentKind kind, const std::string& name, DType dtype, uint64_t offset,
                  uint64_t length, uint32_t base_file, uint64_t base_offset, uint64_t base_length) {
    DeltaSegment s;
    s.file = file;
    s.kind = kind;
    s.name = name;
    s.dtype = dtype;
    s.offset = offset;
    s.length = length;
    s.base_file = base_file;
    s.base_offset = base_offset;
    s.base_length = base_length;
    s.first_frame = index_.frames.size();
    uint32_t seg = static_cast<uint32_t>(index_.segments.size());

    bool same_size = base_file != kNoBase && base_length == length;
    bool patch = base_file != kNoBase && !same_size;
    if (patch && (length > kMaxPatchBytes || base_length > kMaxPatchBytes)) {
      // Too large for one zstd window: send it whole.
      s.base_file = kNoBase;
      s.base_offset = s.base_length = 0;
      patch = false;
    }
    if (patch) {
      if (length > 0) AddFrame(seg, offset, length, base_offset, base_length);
    } else {
      uint64_t width = Info(dtype).width;
      uint64_t step = std::max<uint64_t>(width, options_.frame_bytes / width * width);
      for (uint64_t pos = 0; pos < length; pos += step) {
        uint64_t len = std::min(step, length - pos);
        if (s.base_file != kNoBase) AddFrame(seg, offset + pos, len, base_offset + pos, len);
        else AddFrame(seg, offset + pos, len, 0, 0);
      }
    }
    s.frame_count = index_.frames.size() - s.first_frame;
    index_.segments.push_back(std::move(s));
  }

  void AddFrame(uint32_t seg, uint64_t offset, uint64_t len, uint64_t base_offset, uint64_t base_len) {
    DeltaFrame f;
    f.segment = seg;
    f.target_offset = offset;
    f.raw_len = len;
    f.base_offset = base_offset;
    f.base_len = base_len;
    index_.frames.push_back(f);
  }

  const Checkpoint* base_;
  const Checkpoint& target_;
  PlanOptions options_;
  DeltaIndex index_;
  std::map<std::string, uint32_t> base_by_path_;
  std::map<std::string, BaseTensor> base_tensors_;
};

}  // namespace

DeltaIndex PlanDelta(const Checkpoint* base, const Checkpoint& target, const PlanOptions& options) {
  return Planner(base, target, options).Run();
}

}  // namespace deltaswarm
