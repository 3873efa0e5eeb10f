// File: an owned POSIX file descriptor with positional, all-or-error I/O.
// Positional reads let many threads share one File without a lock. The
// methods that change a file (CreateNew, WriteAt, CopyFrom, Truncate,
// Allocate, Sync) are crash points of the file-system seam (file_system.h).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_system.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

class File {
 public:
  File() = default;
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  static Result<File> OpenRead(const std::string& path);
  // Creates a new file, open for reading and writing, with `mode` from the
  // first instant; fails with kAlreadyExists if it is there.
  static Result<File> CreateNew(const std::string& path, mode_t mode = 0644);

  const std::string& path() const { return path_; }
  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  Result<uint64_t> Size() const;

  // Reads exactly out.size() bytes at offset; a short read is a
  // kCorruption "truncated" error naming the file.
  Status ReadAt(uint64_t offset, std::span<std::byte> out) const;
  Status WriteAt(uint64_t offset, std::span<const std::byte> data);
  // Copies src's [offset, offset+len) to the same offsets here, in the kernel
  // where it can (copy_file_range, reflinks), else through a buffer. A src
  // shorter than that is kCorruption "truncated".
  Status CopyFrom(const File& src, uint64_t offset, uint64_t len);
  Status Truncate(uint64_t size);
  // Reserves size bytes on disk, so a full filesystem fails here, early.
  Status Allocate(uint64_t size);
  Status Sync();
  Status Close();
  // Tells the kernel the pages of [offset, offset+len) will not be reused,
  // so streaming a large file keeps the page cache and RSS flat.
  void DropCache(uint64_t offset, uint64_t len) const;

 private:
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// errno -> Status naming the path: ENOENT kNotFound, ENOSPC kNoSpace, else kIoError.
Status ErrnoStatus(const std::string& path, int err);

Result<std::vector<std::byte>> ReadWholeFile(const std::string& path, uint64_t max_size);
// Writes data to path.tmp, fsyncs, renames over path and fsyncs the directory.
Status WriteFileDurably(const std::string& path, std::span<const std::byte> data);
// Creates path exclusively with `mode` from the first instant (no window in
// which a private key is readable by others), writes data and fsyncs; on a
// failure the file is removed. kAlreadyExists when path exists.
Status CreateFileDurably(const std::string& path, std::string_view data, mode_t mode);
bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);
// A name beside path that does not exist yet: "<path>.tmp-<pid>-<n>".
std::string TempSibling(const std::string& path);
// Moves a finished temporary output (file or directory) to its final name.
// An existing out is replaced only if `replace`; a file is replaced atomically,
// a directory is moved aside first and removed after. Syncs the parent.
Status InstallOutput(const std::string& tmp, const std::string& out, bool replace);
// Removes a temporary output on scope exit unless Release()d.
class TempOutputGuard {
 public:
  explicit TempOutputGuard(std::string path) : path_(std::move(path)) {}
  ~TempOutputGuard() {
    if (!path_.empty()) (void)RemoveAll(path_);
  }
  TempOutputGuard(const TempOutputGuard&) = delete;
  TempOutputGuard& operator=(const TempOutputGuard&) = delete;
  void Release() { path_.clear(); }

 private:
  std::string path_;
};
std::string ParentDirectory(const std::string& path);
// mkdir -p of path's parent directory.
Status CreateParentDirectories(const std::string& path);
// Copies a file or directory tree to dst (which must not exist) under a
// temporary name, fsyncs, and renames it into place. With hard_link, files
// are hard-linked where the filesystem allows (copied otherwise).
Status CopyTreeDurably(const std::string& src, const std::string& dst, bool hard_link = false);
// Free bytes on the filesystem holding path (or its nearest existing parent).
Result<uint64_t> FreeSpace(const std::string& path);

// An exclusive lock on a lock file (created if missing), held by one open
// descriptor: one process at a time per store. kIoError "in use" when taken.
// Returns the descriptor; closing it releases the lock.
Result<int> LockExclusively(const std::string& lock_path, const std::string& owner);

}  // namespace deltaswarm
