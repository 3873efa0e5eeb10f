// DirectoryBucket: a bucket whose objects are files under a root directory
// (a local disk or a shared filesystem). Writes go to a temporary sibling
// ("<name>.tmp-<pid>-<n>") that is fsynced and renamed, so readers see the old
// object or the whole new one. Reads open only regular files reached without
// a symbolic link below the root (open_beneath.h), refuse an object larger
// than their bound before reading it, and end at a stop or their budget's
// deadline. Thread-safe: it holds no mutable state.
#pragma once

#include <string>

#include "bucket/transfer_budget.h"
#include "deltaswarm/bucket.h"

namespace deltaswarm {

class DirectoryBucket : public Bucket {
 public:
  // root must exist (OpenBucket checks or creates it).
  explicit DirectoryBucket(std::string root, TransferBudget budget = {});

  std::string Describe(const std::string& key) const override;
  Result<std::vector<std::byte>> Get(const std::string& key, uint64_t max_bytes) override;
  Result<uint64_t> GetToFile(const std::string& key, const std::string& path, uint64_t max_bytes,
                             const ProgressFn& progress, const StopSignal* stop) override;
  Result<uint64_t> Size(const std::string& key) override;
  Status Put(const std::string& key, std::span<const std::byte> data) override;
  Status PutFile(const std::string& key, const std::string& path, const ProgressFn& progress) override;
  Status Create(const std::string& key, std::span<const std::byte> data) override;
  Status CreateFile(const std::string& key, const std::string& path, const ProgressFn& progress) override;
  Status Delete(const std::string& key) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;

 private:
  Status Write(const std::string& key, std::span<const std::byte> data, bool replace);
  Status WriteFile(const std::string& key, const std::string& path, const ProgressFn& progress, bool replace);
  std::string PathOf(const std::string& key) const { return root_ + "/" + key; }
  std::string root_;
  TransferBudget budget_;
};

}  // namespace deltaswarm
