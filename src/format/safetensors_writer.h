// SafetensorsWriter: streams a safetensors file whose tensor list is known up
// front. The header is written at creation; tensor bytes may then arrive in
// any order, from any number of threads, and the file appears under its final
// name only on Commit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/file.h"
#include "deltaswarm/dtype.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;  // must not be kRaw
  std::vector<uint64_t> shape;
};

// Thread-safe for concurrent WriteTensor calls; Commit and destruction must
// not race with them.
class SafetensorsWriter {
 public:
  // Creates a temporary sibling of `path` holding the header and room for the
  // data. Tensors are laid out in the given order; header keys keep that order,
  // after "__metadata__" (written when `metadata` is non-empty). The JSON is
  // padded with spaces to a multiple of 8, as the reference writer does.
  static Result<std::unique_ptr<SafetensorsWriter>> Create(
      const std::string& path, std::vector<TensorSpec> tensors,
      const std::vector<std::pair<std::string, std::string>>& metadata = {{"format", "pt"}});
  // Removes the temporary file unless Commit succeeded.
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  const std::string& path() const { return path_; }
  size_t tensor_count() const { return tensors_.size(); }
  // Byte size of tensor i's data, and of the whole file.
  uint64_t tensor_bytes(size_t i) const { return ends_[i] - begins_[i]; }
  uint64_t file_size() const { return file_size_; }
  uint64_t header_bytes() const { return header_bytes_; }

  // Writes `data` at byte `offset` inside tensor i's data.
  Status WriteTensor(size_t i, uint64_t offset, std::span<const std::byte> data);
  // fsyncs, renames the temporary file to path() and fsyncs the directory.
  // Bytes never written read as zeros.
  Status Commit();

 private:
  SafetensorsWriter() = default;
  std::string path_;
  std::string tmp_path_;
  File file_;
  std::vector<TensorSpec> tensors_;
  std::vector<uint64_t> begins_, ends_;  // absolute file offsets
  uint64_t header_bytes_ = 0;
  uint64_t file_size_ = 0;
  bool committed_ = false;
};

// The header bytes (8-byte little-endian length, then padded JSON) for the
// tensors laid out back to back in the given order.
Result<std::string> SafetensorsHeaderBytes(const std::vector<TensorSpec>& tensors,
                                           const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace deltaswarm
